#pragma once

// One function per CLI subcommand. Each returns the process exit code and writes its result
// to `out` (stdout) and its errors to `err` (stderr).

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace lakesync::runner {

struct GlobalOptions {
  std::string config_path;  // -c/--config or LAKESYNC_CONFIG; may be empty
  bool json = false;        // --json on read commands
};

int CmdValidate(const GlobalOptions& g, const std::vector<std::string>& files, std::ostream& out,
                std::ostream& err);
int CmdDbMigrate(const GlobalOptions& g, std::ostream& out, std::ostream& err);
int CmdStatus(const GlobalOptions& g, std::ostream& out, std::ostream& err);
int CmdHistory(const GlobalOptions& g, const std::string& job, int limit, std::ostream& out,
               std::ostream& err);

struct RunOptions {
  std::string job;
  std::optional<int64_t> to_version;
  bool wait = false;  // --wait: when another process runs the job, wait for it instead of exit 1
};
int CmdRun(const GlobalOptions& g, const RunOptions& o, std::ostream& out, std::ostream& err);
int CmdVerify(const GlobalOptions& g, const std::string& job, bool checksum, std::ostream& out,
              std::ostream& err);

struct InspectOptions {
  std::string url;
  std::optional<int64_t> version;
  std::string as_of;
  std::string timestamps;  // empty: modification_time (delta/timestamps.h)
  bool files = false;
};
int CmdInspect(const GlobalOptions& g, const InspectOptions& o, std::ostream& out,
               std::ostream& err);

// snapshots JOB [--json]: the snapshots of a snapshot job (cmd_snapshots.cc).
int CmdSnapshots(const GlobalOptions& g, const std::string& job, std::ostream& out,
                 std::ostream& err);

// restore --snapshot JOB/ID --to URL        copy a snapshot to a new location as a table
// restore URL --to-version N | --as-of TS   in-place restore (one new commit), like Delta RESTORE
// (cmd_restore.cc). cli.cc enforces that exactly one of the two forms is given.
struct RestoreOptions {
  std::string snapshot;  // JOB/ID
  std::string to;        // destination URL for --snapshot
  std::string url;       // table to restore in place
  std::optional<int64_t> to_version;
  std::string as_of;
  std::string timestamps;  // how --as-of reads non-ICT commit times; empty: modification_time
};
int CmdRestore(const GlobalOptions& g, const RestoreOptions& o, std::ostream& out,
               std::ostream& err);

// daemon: runs the schedules until SIGTERM/SIGINT (cmd_daemon.cc).
int CmdDaemon(const GlobalOptions& g, std::ostream& out, std::ostream& err);

// trigger JOB [--wait]: asks the daemons to run JOB now (cmd_trigger.cc).
struct TriggerOptions {
  std::string job;
  bool wait = false;
};
int CmdTrigger(const GlobalOptions& g, const TriggerOptions& o, std::ostream& out,
               std::ostream& err);

}  // namespace lakesync::runner
