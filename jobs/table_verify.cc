#include "jobs/table_verify.h"

#include <optional>

#include <fmt/format.h>

#include "delta/log_reader.h"
#include "jobs/commit_files.h"
#include "jobs/snapshot.h"
#include "jobs/snapshot_files.h"
#include "storage/checksum.h"

namespace lakesync::jobs {
namespace {

// The physical files of the live adds of `snapshot`.
Result<std::vector<FileRef>> LiveFiles(const delta::Snapshot& snapshot) {
  std::vector<const delta::Add*> adds;
  adds.reserve(snapshot.files().size());
  for (const auto& f : snapshot.files()) adds.push_back(&f.add);
  return FilesOfAdds(adds);
}

// Present in `table` with the log's size (exact for data files, at least min_size for DV
// files)? Appends a problem otherwise. Storage errors other than NotFound are returned.
Result<bool> CheckPresent(const TableLocation& table, const FileRef& ref, std::string_view rule,
                          std::vector<std::string>& problems) {
  auto st = table.storage->Stat(TableKey(TablePrefix(table), ref.path));
  if (!st.ok()) {
    if (!st.status().IsNotFound()) return st.status().WithContext("checking " + ref.path);
    problems.push_back(fmt::format("{}: {} {} is missing from {}", rule, FileRoleName(ref.role),
                                   ref.path, DescribeTable(table)));
    return false;
  }
  const int64_t size = static_cast<int64_t>(st->size);
  const bool right = ref.role == FileRole::kDeletionVector ? size >= ref.min_size
                                                           : ref.size < 0 || size == ref.size;
  if (!right) {
    problems.push_back(
        fmt::format("{}: {} {} has {} bytes but the log says {}{}", rule, FileRoleName(ref.role),
                    ref.path, size, ref.role == FileRole::kDeletionVector ? "at least " : "",
                    ref.role == FileRole::kDeletionVector ? ref.min_size : ref.size));
    return false;
  }
  return true;
}

// The folder a shallow snapshot names the source's files under: percent-encoded, as lakesync
// writes it, and literal, as lakesync builds before December 2026 wrote it. The literal form is a
// broken URI when the folder holds an ASCII byte a URI reads otherwise (' ', '%', '#', ...);
// non-ASCII bytes alone leave it readable (Java's URI, and so Spark, takes them as they are).
struct SourceRoots {
  std::string encoded;
  std::string literal;
  bool literal_is_broken = false;

  explicit SourceRoots(const TableLocation& source) : literal(TableUrl(source)) {
    if (!literal.empty() && literal.back() != '/') literal += '/';
    encoded = delta::PercentEncodeUriPath(literal);
    literal_is_broken = delta::NeedsPercentEncoding(literal);
  }

  // Whether `uri` names a file under the literal folder where the encoded one was due.
  bool UnderBrokenLiteral(std::string_view uri) const {
    return literal_is_broken && !Under(uri, encoded) && Under(uri, literal);
  }

  // `uri` as a path relative to the source table (decoded, as the source's log names it), when
  // it lies inside it.
  std::optional<std::string> Inside(std::string_view uri) const {
    for (const std::string* root : {&encoded, &literal}) {
      if (!Under(uri, *root)) continue;
      auto relative = delta::PercentDecode(uri.substr(root->size()));
      if (relative.ok()) return std::move(relative).value();
    }
    return std::nullopt;
  }

 private:
  static bool Under(std::string_view uri, std::string_view root) {
    return uri.size() > root.size() && uri.substr(0, root.size()) == root;
  }
};

Status VerifyOneSnapshot(const TableLocation& source, bool source_readable,
                         const TableLocation& target, const SnapshotManifest& manifest,
                         bool checksum, VerifyReport& report) {
  auto& problems = report.problems;
  TableLocation table{target.name + "/" + manifest.id, target.storage,
                      SnapshotTablePrefix(target, manifest.id)};
  delta::DeltaLog log(*table.storage, TablePrefix(table));
  auto loaded = log.LoadSnapshot();
  if (!loaded.ok()) {
    problems.push_back("the snapshot table cannot be read: " + loaded.status().message());
    return Status::OK();
  }
  const delta::Snapshot& snap = *loaded;
  report.commits_checked = static_cast<int64_t>(snap.commit_versions().size());
  if (snap.version() != 0) {
    problems.push_back(fmt::format(
        "the snapshot table has commits after version 0 (head {}): it was written to after it "
        "was taken",
        snap.version()));
  }
  if (snap.num_files() != manifest.files || snap.bytes() != manifest.bytes) {
    problems.push_back(fmt::format(
        "the manifest says {} files and {} bytes but the snapshot's log has {} files and {} bytes",
        manifest.files, manifest.bytes, snap.num_files(), snap.bytes()));
  }
  if (!manifest.table_id.empty() && snap.metadata().id != manifest.table_id) {
    problems.push_back(fmt::format("the manifest names table id {} but the snapshot's is {}",
                                   manifest.table_id, snap.metadata().id));
  }
  // The source version it names: still the same table with the same live files (a source
  // dropped and recreated reuses the URL and its versions). A version the source's log no
  // longer reaches (log retention) cannot be compared.
  if (source_readable) {
    auto then =
        delta::DeltaLog(*source.storage, TablePrefix(source)).LoadSnapshot(manifest.version);
    if (then.ok()) {
      if (!manifest.source_table_id.empty() && then->metadata().id != manifest.source_table_id) {
        problems.push_back(fmt::format(
            "the source at version {} is another table (id {}; the snapshot was taken of {}): it "
            "was dropped and recreated since",
            manifest.version, then->metadata().id, manifest.source_table_id));
      } else if (then->num_files() != manifest.files || then->bytes() != manifest.bytes) {
        problems.push_back(fmt::format(
            "the source at version {} has {} files and {} bytes, the snapshot {} and {}: it is "
            "not the table the snapshot was taken of",
            manifest.version, then->num_files(), then->bytes(), manifest.files, manifest.bytes));
      }
    }
  }
  LAKESYNC_ASSIGN_OR_RETURN(auto files, LiveFiles(snap));
  const SourceRoots roots(source);
  int64_t unencoded = 0;
  std::string first_unencoded;
  for (const auto& ref : files) {
    ++report.files_checked;
    if (ref.absolute) {
      // Shallow: the file lives in the source.
      if (roots.UnderBrokenLiteral(ref.path) && unencoded++ == 0) first_unencoded = ref.path;
      auto relative = roots.Inside(ref.path);
      if (!relative || !source_readable) continue;  // elsewhere: nothing to check it with
      FileRef in_source = ref;
      in_source.path = *relative;
      std::vector<std::string> missing;
      LAKESYNC_ASSIGN_OR_RETURN(bool ok, CheckPresent(source, in_source, "shallow", missing));
      if (!ok) {
        problems.push_back(missing.front() +
                           " (the source no longer has it, e.g. after VACUUM: this shallow "
                           "snapshot cannot be read; take a deep one)");
      }
      continue;
    }
    LAKESYNC_ASSIGN_OR_RETURN(bool present, CheckPresent(table, ref, "deep", problems));
    if (!present || !checksum || !source_readable) continue;
    const std::string from = TableKey(TablePrefix(source), ref.path);
    auto in_source = source.storage->Stat(from);
    if (!in_source.ok()) continue;  // vacuumed in the source since: nothing to compare with
    LAKESYNC_ASSIGN_OR_RETURN(uint64_t a, storage::Xxh3OfFile(*source.storage, from));
    LAKESYNC_ASSIGN_OR_RETURN(
        uint64_t b, storage::Xxh3OfFile(*table.storage, TableKey(TablePrefix(table), ref.path)));
    if (a != b) {
      problems.push_back(fmt::format("{} {} differs from the source's (xxh3 {} vs {})",
                                     FileRoleName(ref.role), ref.path, storage::FormatXxh3(b),
                                     storage::FormatXxh3(a)));
    }
  }
  if (unencoded > 0) {
    problems.push_back(fmt::format(
        "{} file(s) are named under the source's folder {} written without percent-encoding "
        "(first: {}), as earlier lakesync builds wrote shallow snapshots: that is not the URI of "
        "the folder, and Spark and other Delta readers cannot read this snapshot; take a new "
        "one",
        unencoded, roots.literal, first_unencoded));
  }
  return Status::OK();
}

}  // namespace

Result<SnapshotsVerifyReport> VerifySnapshots(const TableLocation& source,
                                              const TableLocation& target, bool checksum) {
  if (source.storage == nullptr || target.storage == nullptr) {
    return Status::InvalidArgument("VerifySnapshots needs a source and a target storage");
  }
  SnapshotsVerifyReport out;
  LAKESYNC_ASSIGN_OR_RETURN(auto entries, ListSnapshots(target));
  auto head = TableHead(*source.storage, TablePrefix(source));
  if (!head.ok()) out.source_error = head.status().message();
  for (const auto& e : entries) {
    if (e.status != SnapshotStatus::kComplete || !e.manifest) {
      out.incomplete.push_back(fmt::format("{} ({})", e.id, SnapshotStatusName(e.status)));
      continue;
    }
    VerifyReport report;
    report.target = e.id;
    report.target_version = e.manifest->version;
    report.source_version = head.ok() ? *head : -1;
    LAKESYNC_RETURN_IF_ERROR(
        VerifyOneSnapshot(source, head.ok(), target, *e.manifest, checksum, report)
            .WithContext("verifying snapshot " + e.id));
    out.snapshots.push_back(std::move(report));
  }
  return out;
}

Result<ConsolidationVerifyReport> VerifyConsolidation(
    const std::vector<ConsolidationSource>& sources, const TableLocation& target,
    std::string_view job) {
  if (target.storage == nullptr) {
    return Status::InvalidArgument("VerifyConsolidation needs a target storage");
  }
  ConsolidationVerifyReport out;
  VerifyReport& report = out.global;
  report.target = target.name;
  auto& problems = report.problems;
  delta::DeltaLog log(*target.storage, TablePrefix(target));
  LAKESYNC_ASSIGN_OR_RETURN(int64_t head, TableHead(*target.storage, TablePrefix(target)));
  report.target_version = head;
  if (head < 0) return out;  // no global table yet
  auto loaded = log.LoadSnapshot();
  if (!loaded.ok()) {
    problems.push_back("the global table cannot be read: " + loaded.status().message());
    return out;
  }
  report.commits_checked = static_cast<int64_t>(loaded->commit_versions().size());
  LAKESYNC_ASSIGN_OR_RETURN(auto files, LiveFiles(*loaded));
  for (const auto& ref : files) {
    if (ref.absolute) continue;
    ++report.files_checked;
    LAKESYNC_ASSIGN_OR_RETURN(bool present, CheckPresent(target, ref, "C2", problems));
    (void)present;
  }
  out.regions = ConsolidationLag(sources, target, job, SystemClock::Instance().Now());
  for (const auto& r : out.regions) {
    if (r.replaced) problems.push_back(r.status.message());
    if (r.status.ok() && r.consolidated_version > r.source_version) {
      problems.push_back(fmt::format(
          "region {}: the global table's txn says source version {} is consolidated but the "
          "source's head is {}",
          r.region, r.consolidated_version, r.source_version));
    }
  }
  return out;
}

}  // namespace lakesync::jobs
