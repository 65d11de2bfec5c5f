#pragma once

// Run notifications: a webhook (JSON POST with a Slack-compatible `text` field) or an email
// (plain SMTP) when a run fails, when a job recovers (its first success after failures) and,
// when configured, on every success (the `notifications:` entries of the configuration).
//
// Never blocks or fails a run: RunFinished only decides what to send and queues it; one
// background thread delivers, retrying each delivery a few times with a growing pause, and logs
// what could not be delivered. A webhook URL is a secret: logs show it only through RedactUrl.
//
// Thread-safety: every method is thread-safe.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/duration.h"
#include "common/status.h"
#include "db/state_store.h"
#include "runner/config.h"

namespace lakesync::runner {

// What the notifier is told about a finished run.
struct RunNotice {
  std::string job;
  std::string kind;
  db::RunStatus status = db::RunStatus::kSucceeded;
  int64_t run_id = 0;  // 0 when the run was not recorded
  int attempt = 1;
  db::Trigger trigger = db::Trigger::kSchedule;
  std::string error;
  double duration_seconds = 0;
  std::string runner_id;
  // Whether the job's previous finished run (before this one, cancelled ones aside) failed, as
  // the state store records it — so a restarted daemon, or another runner than the one that
  // saw the failure, still reports the recovery. nullopt: unknown (what this notifier saw is
  // used). Failures are still sent once per streak this notifier sees.
  std::optional<bool> previous_failed;
};

struct NotifierOptions {
  int attempts = 3;                                   // deliveries tried per message
  Duration backoff = std::chrono::milliseconds(500);  // pause after the first failed try, doubled
  Duration timeout = std::chrono::seconds(10);        // per connection / request
};

// Whether a run with this status counts as a failure (failed, partial, timed out).
bool IsFailure(db::RunStatus status);

// The one-line summary used as the webhook `text` and the email subject, e.g.
// "lakesync: job orders failed (run 42, attempt 2/schedule): cannot read ...".
std::string NoticeText(const RunNotice& notice, NotificationConfig::Event event);
// The webhook body: {"text": ..., "job": ..., "event": ..., "status": ..., "run_id": ..., ...}.
std::string WebhookBody(const RunNotice& notice, NotificationConfig::Event event);

// One delivery attempt (exposed for tests). Errors: InvalidArgument for an unusable URL /
// address; Unavailable/IOError for network failures or a non-2xx answer (a 5xx or 429 is worth
// retrying). Messages never contain the webhook URL's secret path.
[[nodiscard]] Status PostWebhook(const std::string& url, const std::string& json_body,
                                 Duration timeout);
[[nodiscard]] Status SendEmail(const std::string& smtp_host_port, const std::string& from,
                               const std::vector<std::string>& to, const std::string& subject,
                               const std::string& body, Duration timeout);

class Notifier {
 public:
  explicit Notifier(std::vector<NotificationConfig> configs, NotifierOptions options = {});
  ~Notifier();  // Shutdown(5s)
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Replaces the notification list (a configuration reload); queued messages still go out.
  void Reconfigure(std::vector<NotificationConfig> configs);

  // Records a finished run and queues the notifications it triggers: a failure once per streak
  // of failed runs this notifier sees (its first; the retries and runs after it that fail too
  // are logged, not sent, so an outage is one alert, not one per attempt), the recovery when a
  // run succeeds after a failed one (RunNotice::previous_failed), and successes where asked.
  // kCancelled runs (shutdown, a lost lease) notify nothing and do not change the job's
  // failing/recovered state.
  void RunFinished(const RunNotice& notice);

  // Stops accepting messages and delivers what is queued for at most `bound`; what is left is
  // logged as dropped. Idempotent.
  void Shutdown(Duration bound);

  // Deliveries that succeeded / gave up so far (for tests and logs).
  int64_t delivered() const;
  int64_t dropped() const;

 private:
  struct Message {
    NotificationConfig target;
    std::string subject;
    std::string body;  // JSON for a webhook, text for an email
  };
  void Loop();
  Status Deliver(const Message& m) const;

  NotifierOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<NotificationConfig> configs_;
  struct Streak {
    bool failing = false;  // the job's last (non-cancelled) run failed
    int failures = 0;      // failed runs in the current streak that this notifier saw
  };
  std::map<std::string, Streak> streaks_;
  std::deque<Message> queue_;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
  int64_t delivered_ = 0;
  int64_t dropped_ = 0;
  std::thread thread_;
};

}  // namespace lakesync::runner
