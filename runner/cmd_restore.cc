// `lakesync restore`: a snapshot copied to a new location as a table, or a table restored in
// place to an earlier version (jobs/restore.h).

#include <filesystem>
#include <ostream>

#include "common/duration.h"
#include "common/json_writer.h"
#include "common/uri.h"
#include "jobs/restore.h"
#include "jobs/run_observer.h"
#include "runner/command_util.h"
#include "runner/commands.h"
#include "runner/exit_codes.h"
#include "runner/progress.h"
#include "runner/tables.h"
#include "storage/storage.h"

namespace lakesync::runner {
namespace {

// A table URL from the command line; a plain path is a local table, resolved against the
// working directory.
Result<Uri> CommandLineUrl(const std::string& text) {
  std::string url = text;
  if (url.find("://") == std::string::npos && !url.empty()) {
    std::error_code ec;
    url = std::filesystem::absolute(url, ec).lexically_normal().string();
  }
  return Uri::Parse(url);
}

int RestoreFromSnapshot(const GlobalOptions& g, const RestoreOptions& o, std::ostream& out,
                        std::ostream& err) {
  const size_t slash = o.snapshot.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == o.snapshot.size()) {
    err << "lakesync: --snapshot takes JOB/ID (for example nightly/20261122T020000Z-v42); "
           "`lakesync snapshots JOB` lists the ids\n";
    return kExitUsage;
  }
  const std::string job_name = o.snapshot.substr(0, slash);
  const std::string id = o.snapshot.substr(slash + 1);
  Result<Config> config = LoadGlobalConfig(g);
  if (!config.ok()) return ReportError(config.status(), err, kExitUsage);
  const JobConfig* job = config->FindJob(job_name);
  if (job == nullptr || job->kind != JobKind::kSnapshot) {
    err << "lakesync: no snapshot job named \"" << job_name << "\" in " << g.config_path
        << "; `lakesync status` lists the configured jobs\n";
    return kExitUsage;
  }
  Result<Uri> to_uri = CommandLineUrl(o.to);
  if (!to_uri.ok()) return ReportError(to_uri.status(), err, kExitUsage);
  auto snapshots = OpenTableRef(job->snapshot.target);
  if (!snapshots.ok()) return ReportError(snapshots.status(), err, kExitJobFailed);
  auto to_storage = storage::OpenStorage(*to_uri);
  if (!to_storage.ok()) return ReportError(to_storage.status(), err, kExitUsage);
  jobs::TableLocation to{to_uri->ToString(), to_storage->get(), ""};
  jobs::RunObserver observer;
  auto restored = jobs::RestoreSnapshotCopy(snapshots->location, id, to,
                                            config->runner.copy_parallelism, observer);
  if (!restored.ok()) return ReportError(restored.status(), err, kExitJobFailed);
  if (g.json) {
    JsonWriter w;
    w.BeginObject().Key("snapshot").String(job_name + "/" + id);
    w.Key("to").String(to_uri->ToString()).Key("version").Int(restored->source_version);
    w.Key("files").Int(restored->files).Key("bytes").Int(restored->bytes);
    w.Key("shallow").Bool(restored->shallow).EndObject();
    out << w.str() << "\n";
  } else {
    out << "restored snapshot " << job_name << "/" << id << " (source version "
        << restored->source_version << ") to " << to_uri->ToString() << ": " << restored->files
        << " files, " << FormatBytes(static_cast<double>(restored->bytes)) << " copied"
        << (restored->shallow ? " (a shallow snapshot: the table references the source's files)"
                              : "")
        << "\n";
  }
  return kExitOk;
}

int RestoreInPlace(const GlobalOptions& g, const RestoreOptions& o, std::ostream& out,
                   std::ostream& err) {
  Result<Uri> uri = CommandLineUrl(o.url);
  if (!uri.ok()) return ReportError(uri.status(), err, kExitUsage);
  jobs::RestoreInPlaceOptions opts;
  if (o.to_version) {
    if (*o.to_version < 0) {
      err << "lakesync: --to-version must be 0 or more\n";
      return kExitUsage;
    }
    opts.version = *o.to_version;
  } else {
    Result<TimePoint> t = ParseTimestamp(o.as_of);
    if (!t.ok()) return ReportError(t.status(), err, kExitUsage);
    opts.as_of = *t;
    Result<delta::NonIctTimestampPolicy> timestamps = TimestampsOption(o.timestamps);
    if (!timestamps.ok()) return ReportError(timestamps.status(), err, kExitUsage);
    opts.timestamps = *timestamps;
  }
  auto storage = storage::OpenStorage(*uri);
  if (!storage.ok()) return ReportError(storage.status(), err, kExitUsage);
  jobs::TableLocation table{uri->ToString(), storage->get(), ""};
  jobs::RunObserver observer;
  auto restored = jobs::RestoreInPlace(table, opts, observer);
  if (!restored.ok()) {
    return ReportError(restored.status().WithContext("restoring " + uri->ToString()), err,
                       kExitJobFailed);
  }
  if (g.json) {
    JsonWriter w;
    w.BeginObject().Key("table").String(uri->ToString()).Key("head").Int(restored->head);
    w.Key("restored_version").Int(restored->restored_version).Key("new_version");
    if (restored->new_version >= 0) {
      w.Int(restored->new_version);
    } else {
      w.Null();
    }
    w.Key("removed").Int(restored->removed).Key("added").Int(restored->added);
    w.Key("metadata_restored").Bool(restored->metadata_restored);
    w.Key("files").Int(restored->files).Key("bytes").Int(restored->bytes).EndObject();
    out << w.str() << "\n";
  } else if (restored->new_version < 0) {
    out << uri->ToString() << " already holds the files and metadata of version "
        << restored->restored_version << " at its head (version " << restored->head
        << "); nothing to do\n";
  } else {
    out << "restored " << uri->ToString() << " to version " << restored->restored_version
        << ": version " << restored->new_version << " removes " << restored->removed
        << " files and re-adds " << restored->added << " (" << restored->files << " live files, "
        << FormatBytes(static_cast<double>(restored->bytes)) << ")"
        << (restored->metadata_restored
                ? ", and brings back that version's schema, partition columns and properties"
                : "")
        << "\n";
  }
  return kExitOk;
}

}  // namespace

int CmdRestore(const GlobalOptions& g, const RestoreOptions& o, std::ostream& out,
               std::ostream& err) {
  if (!o.snapshot.empty()) return RestoreFromSnapshot(g, o, out, err);
  return RestoreInPlace(g, o, out, err);
}

}  // namespace lakesync::runner
