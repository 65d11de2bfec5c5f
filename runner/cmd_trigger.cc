#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <ostream>
#include <thread>

#include "db/coordination.h"
#include "runner/command_util.h"
#include "runner/commands.h"
#include "runner/executor.h"
#include "runner/exit_codes.h"
#include "runner/state_connection.h"

namespace lakesync::runner {
namespace {

// How long a request may stay unclaimed before `trigger` concludes no daemon runs the job. A
// daemon claims requests within milliseconds of the NOTIFY (and polls every second).
constexpr auto kClaimWait = std::chrono::seconds(5);
// The request is polled every kFirstPoll at first, doubling up to kMaxPoll while nothing
// changes: a run that starts and ends quickly is seen within milliseconds, a long one costs
// one query per kMaxPoll.
constexpr auto kFirstPoll = std::chrono::milliseconds(5);
constexpr auto kMaxPoll = std::chrono::milliseconds(200);

}  // namespace

int CmdTrigger(const GlobalOptions& g, const TriggerOptions& o, std::ostream& out,
               std::ostream& err) {
  Result<Config> config = LoadGlobalConfig(g);
  if (!config.ok()) return ReportError(config.status(), err, kExitUsage);
  if (config->FindJob(o.job) == nullptr) {
    err << "lakesync: no job named \"" << o.job << "\" in " << g.config_path
        << "; `lakesync status` lists the configured jobs\n";
    return kExitUsage;
  }
  // Checks the schema is there (and says `lakesync db migrate` when not).
  auto store = OpenStateStore(&*config);
  if (!store.ok()) return ReportStoreOpenError(store.status(), err);
  std::unique_ptr<db::Coordination> coord = (*store)->BorrowCoordination();

  auto id = coord->InsertRequest(o.job, "trigger@" + DefaultRunnerId());
  if (!id.ok()) return ReportError(id.status(), err, kExitStateStore);

  // Follow the request: claimed by a daemon, then done with a run. A claim its daemon stopped
  // renewing for runner.lease_ttl is taken over by another daemon; when none did within
  // kClaimWait more, the request is cancelled.
  const Duration expired_claim = config->runner.lease_ttl + kClaimWait;
  auto pending_since = std::chrono::steady_clock::now();
  bool announced = false;
  std::string claimer;
  int64_t shown_run = 0;  // the run id last shown (ids start at 1)
  auto poll = kFirstPoll;
  std::string last_seen;  // status, claimer and run of the previous poll
  for (;;) {
    auto req = coord->GetRequest(*id);
    if (!req.ok()) return ReportError(req.status(), err, kExitStateStore);
    std::string seen = fmt::format("{}/{}/{}", req->status, req->claimed_by,
                                   req->run_id ? *req->run_id : int64_t{0});
    poll = seen == last_seen ? std::min<std::chrono::milliseconds>(poll * 2, kMaxPoll) : kFirstPoll;
    last_seen = std::move(seen);
    if (req->status == "pending") {
      if (std::chrono::steady_clock::now() - pending_since >= kClaimWait) {
        auto cancelled = coord->CancelPendingRequest(*id);
        if (!cancelled.ok()) return ReportError(cancelled.status(), err, kExitStateStore);
        if (*cancelled) {
          err << "lakesync: no daemon picked up the request to run " << o.job << " within "
              << std::chrono::duration_cast<std::chrono::seconds>(kClaimWait).count()
              << "s (request " << *id
              << " cancelled): start one with `lakesync daemon -c FILE` (with this job in its "
                 "configuration), or run the job in this process with `lakesync run "
              << o.job << "`\n";
          return kExitJobFailed;
        }
        continue;  // claimed just now
      }
    } else {
      pending_since = std::chrono::steady_clock::now();  // a daemon that stops puts it back
      if (!announced && (req->status == "claimed" || req->status == "done")) {
        out << "requested a run of " << o.job << " (request " << *id << "); daemon "
            << req->claimed_by << " took it\n";
        out.flush();
        announced = true;
        claimer = req->claimed_by;
        if (!o.wait) return kExitOk;
      }
      if (req->status == "claimed") {
        if (req->claimed_by != claimer) {
          out << "daemon " << req->claimed_by << " took the request over (daemon " << claimer
              << " stopped renewing its claim)\n";
          claimer = req->claimed_by;
          shown_run = 0;
        }
        if (req->run_id && *req->run_id != shown_run) {
          out << "run " << *req->run_id << " of " << o.job << " started\n";
          shown_run = *req->run_id;
        }
        out.flush();
        if (req->claim_age >= expired_claim) {
          auto cancelled = coord->CancelPendingRequest(*id, expired_claim);
          if (!cancelled.ok()) return ReportError(cancelled.status(), err, kExitStateStore);
          if (*cancelled) {
            err << "lakesync: daemon " << req->claimed_by << " took request " << *id
                << " but stopped renewing its claim " << FormatDuration(req->claim_age)
                << " ago (killed or cut off from the database), and no other daemon took it "
                   "over; the request is cancelled: start a daemon with this job in its "
                   "configuration, or run the job with `lakesync run "
                << o.job << "`\n";
            return kExitJobFailed;
          }
          continue;  // renewed or taken over just now
        }
      }
      if (req->status == "done") {
        if (!req->run_id) {
          err << "lakesync: the run of " << o.job << " requested by request " << *id
              << " was not recorded (its daemon lost the job's lease or the state store); see "
                 "`lakesync history "
              << o.job << "`\n";
          return kExitJobFailed;
        }
        if (req->run_status == "succeeded") {
          out << "run " << *req->run_id << " of " << o.job << " succeeded\n";
          return kExitOk;
        }
        err << "lakesync: run " << *req->run_id << " of " << o.job << " " << req->run_status
            << (req->run_error.empty() ? "" : ": " + req->run_error) << "\n";
        return kExitJobFailed;
      }
      if (req->status == "cancelled") {
        err << "lakesync: request " << *id << " was cancelled\n";
        return kExitJobFailed;
      }
    }
    std::this_thread::sleep_for(poll);
  }
}

}  // namespace lakesync::runner
