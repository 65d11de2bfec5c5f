#include "runner/cli.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <vector>

#include "common/logging.h"
#include "runner/commands.h"
#include "runner/exit_codes.h"

namespace lakesync::runner {

// The daemon (its HTTP server, notifiers and metrics: Poco and prometheus-cpp, eleven shared
// libraries) is linked into the `lakesync-daemon` executable only. `lakesync` references it
// weakly, so the linker leaves it out and every other command — above all a fresh `lakesync run`
// — starts without loading those libraries (bench/README.md, "Start-up"). In lakesync-daemon
// the symbol is defined and `daemon` runs in place; in lakesync it is null and `daemon` execs
// the lakesync-daemon installed beside it, with the same arguments.
[[gnu::weak]] int CmdDaemon(const GlobalOptions& g, std::ostream& out, std::ostream& err);

namespace {

// A Delta table version: digits only (CLI::NonNegativeNumber accepts 1.5 and prints its range
// as a 300-digit number).
const CLI::Validator kDeltaVersion(
    [](std::string& value) -> std::string {
      const bool digits =
          !value.empty() && value.size() <= 18 &&
          std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
      return digits
                 ? std::string()
                 : "'" + value + "' is not a Delta table version; write a whole number, 0 or more";
    },
    "VERSION");

constexpr const char* kTimestampsHelp =
    "commit times before in-commit timestamps: modification_time (the commit file's, as Delta "
    "readers do; default) or commit_info (commitInfo.timestamp, for a table copied by a tool "
    "that reset modification times)";

int ExecDaemonExecutable(char** argv) {
  std::error_code ec;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  std::filesystem::path daemon =
      (ec ? std::filesystem::path(argv[0]) : self).parent_path() / "lakesync-daemon";
  std::vector<char*> args;
  args.push_back(const_cast<char*>(daemon.c_str()));
  for (char** a = argv + 1; *a != nullptr; ++a) args.push_back(*a);
  args.push_back(nullptr);
  execv(daemon.c_str(), args.data());
  std::cerr << "lakesync: cannot start " << daemon << ": " << std::strerror(errno)
            << "; `lakesync daemon` runs the lakesync-daemon executable, which is built with "
               "lakesync (cmake --build BUILD --target lakesync) and must be installed in the "
               "same directory\n";
  return kExitUsage;
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{
      "lakesync keeps Delta Lake tables replicated, snapshotted and consolidated across "
      "regions.\nExit codes: 0 ok, 1 a job failed, 2 usage or configuration error, 3 the "
      "state store is unreachable.",
      "lakesync"};
  app.require_subcommand(1);
  // Global options (-c, --log-format) may also follow the subcommand: `lakesync status -c f`.
  app.fallthrough();
  app.set_version_flag("--version", std::string("lakesync ") + LAKESYNC_VERSION);

  GlobalOptions g;
  std::string log_format = "text";
  std::string log_level = "info";
  app.add_option("-c,--config", g.config_path, "configuration file (YAML)")
      ->envname("LAKESYNC_CONFIG");
  app.add_option("--log-format", log_format, "text or json")->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str();

  // validate
  std::vector<std::string> validate_files;
  auto* validate = app.add_subcommand(
      "validate", "check configuration files without touching anything (exit 0 or 2)");
  validate->add_option("files", validate_files, "files to check (default: the -c file)");

  // db migrate
  auto* db = app.add_subcommand("db", "state store administration");
  db->require_subcommand(1);
  auto* migrate = db->add_subcommand(
      "migrate", "create or upgrade the PostgreSQL schema (safe to run from several processes)");

  // status
  auto* status = app.add_subcommand("status", "every configured job: last run, versions, lag");
  status->add_flag("--json", g.json, "print JSON");

  // history
  std::string history_job;
  int history_limit = 20;
  auto* history = app.add_subcommand("history", "the runs of one job, newest first");
  history->add_option("job", history_job, "job name")->required();
  history->add_option("--limit", history_limit, "how many runs")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  history->add_flag("--json", g.json, "print JSON");

  // run
  RunOptions run_opts;
  auto* run = app.add_subcommand(
      "run", "run a job now, in this process (a progress bar on a terminal); exit 0 or 1");
  run->add_option("job", run_opts.job, "job name")->required();
  run->add_option("--to-version", run_opts.to_version,
                  "incremental jobs: replicate up to this source version instead of the head")
      ->check(kDeltaVersion);
  run->add_flag("--wait", run_opts.wait,
                "if another process (a daemon) is running the job, wait for it, then run");

  // trigger
  TriggerOptions trigger_opts;
  auto* trigger = app.add_subcommand(
      "trigger", "ask the running daemon(s) to run a job now; --wait follows it to its result");
  trigger->add_option("job", trigger_opts.job, "job name")->required();
  trigger->add_flag("--wait", trigger_opts.wait,
                    "wait for the run to finish and exit with its result (0 or 1)");

  // daemon
  auto* daemon = app.add_subcommand(
      "daemon", "run every job on its schedule until SIGTERM; serves /healthz /readyz /metrics");

  // snapshots
  std::string snapshots_job;
  auto* snapshots =
      app.add_subcommand("snapshots", "the snapshots of a snapshot job, newest first");
  snapshots->add_option("job", snapshots_job, "job name")->required();
  snapshots->add_flag("--json", g.json, "print JSON");

  // restore
  RestoreOptions restore_opts;
  auto* restore = app.add_subcommand(
      "restore",
      "restore --snapshot JOB/ID --to URL: copy a snapshot to a new table; "
      "restore URL --to-version N | --as-of TS: restore a table in place (one new commit)");
  auto* restore_url =
      restore->add_option("url", restore_opts.url, "table to restore in place (file:///path)");
  auto* restore_snapshot =
      restore->add_option("--snapshot", restore_opts.snapshot, "the snapshot to copy: JOB/ID");
  auto* restore_to =
      restore->add_option("--to", restore_opts.to, "where to write the snapshot's copy (URL)");
  auto* restore_version =
      restore
          ->add_option("--to-version", restore_opts.to_version, "in place: the version to restore")
          ->check(kDeltaVersion);
  auto* restore_as_of = restore->add_option("--as-of", restore_opts.as_of,
                                            "in place: restore the table as of this timestamp");
  restore->add_option("--timestamps", restore_opts.timestamps, kTimestampsHelp)
      ->needs(restore_as_of);
  restore_version->excludes(restore_as_of);
  restore_snapshot->excludes(restore_url)->excludes(restore_version)->excludes(restore_as_of);
  restore_snapshot->needs(restore_to);
  restore_to->needs(restore_snapshot);
  restore->add_flag("--json", g.json, "print JSON");

  // verify
  std::string verify_job;
  bool verify_checksum = false;
  auto* verify = app.add_subcommand(
      "verify",
      "check a job's targets: replicas against their source (R1-R3), each complete snapshot, or "
      "the global table and its regions (C2); exit 0 or 1");
  verify->add_option("job", verify_job, "job name")->required();
  verify->add_flag("--checksum", verify_checksum, "also compare xxh3 checksums of every file");
  verify->add_flag("--json", g.json, "print JSON");

  // inspect
  InspectOptions inspect_opts;
  auto* inspect = app.add_subcommand(
      "inspect", "read a Delta table: version, protocol, schema, live files, bytes, rows");
  inspect->add_option("url", inspect_opts.url, "table URL: file:///path or /path")->required();
  auto* inspect_version =
      inspect->add_option("--version", inspect_opts.version, "read the table at this version")
          ->check(kDeltaVersion);
  inspect
      ->add_option("--as-of", inspect_opts.as_of,
                   "read the table as of a timestamp (2026-11-22T02:00:00Z)")
      ->excludes(inspect_version);
  inspect->add_option("--timestamps", inspect_opts.timestamps, kTimestampsHelp);
  inspect->add_flag("--files", inspect_opts.files, "list the live files");
  inspect->add_flag("--json", g.json, "print JSON");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "lakesync: " << e.what() << "\nRun 'lakesync --help' for usage.\n";
    return kExitUsage;
  }

  auto format = ParseLogFormat(log_format);
  if (!format.ok()) {
    std::cerr << "lakesync: " << format.status().message() << "\n";
    return kExitUsage;
  }
  if (Status s = SetupLogging(*format, log_level); !s.ok()) {
    std::cerr << "lakesync: " << s.message() << "\n";
    return kExitUsage;
  }

  if (validate->parsed()) return CmdValidate(g, validate_files, std::cout, std::cerr);
  if (migrate->parsed()) return CmdDbMigrate(g, std::cout, std::cerr);
  if (status->parsed()) return CmdStatus(g, std::cout, std::cerr);
  if (history->parsed()) return CmdHistory(g, history_job, history_limit, std::cout, std::cerr);
  if (run->parsed()) return CmdRun(g, run_opts, std::cout, std::cerr);
  if (trigger->parsed()) return CmdTrigger(g, trigger_opts, std::cout, std::cerr);
  if (daemon->parsed()) {
    if (CmdDaemon == nullptr) return ExecDaemonExecutable(argv);
    return CmdDaemon(g, std::cout, std::cerr);
  }
  if (snapshots->parsed()) return CmdSnapshots(g, snapshots_job, std::cout, std::cerr);
  if (restore->parsed()) {
    const bool in_place = !restore_opts.url.empty();
    if (in_place == !restore_opts.snapshot.empty() ||
        (in_place && !restore_opts.to_version && restore_opts.as_of.empty())) {
      std::cerr << "lakesync: restore needs either --snapshot JOB/ID --to URL, or a table URL "
                   "with --to-version N or --as-of TIMESTAMP\nRun 'lakesync restore --help' for "
                   "usage.\n";
      return kExitUsage;
    }
    return CmdRestore(g, restore_opts, std::cout, std::cerr);
  }
  if (verify->parsed()) return CmdVerify(g, verify_job, verify_checksum, std::cout, std::cerr);
  if (inspect->parsed()) return CmdInspect(g, inspect_opts, std::cout, std::cerr);
  std::cerr << "lakesync: no command given\nRun 'lakesync --help' for usage.\n";
  return kExitUsage;
}

}  // namespace lakesync::runner
