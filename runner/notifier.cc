#include "runner/notifier.h"

#include <Poco/Exception.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/MailMessage.h>
#include <Poco/Net/MailRecipient.h>
#include <Poco/Net/SMTPClientSession.h>
#include <Poco/Timespan.h>
#include <Poco/URI.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>

#include "common/duration.h"
#include "common/json_writer.h"
#include "common/redact.h"

namespace lakesync::runner {
namespace {

Poco::Timespan ToTimespan(Duration d) {
  return Poco::Timespan(static_cast<Poco::Timespan::TimeDiff>(d.count()) * 1000);
}

bool Covers(const NotificationConfig& c, const std::string& job) {
  return c.jobs.empty() || std::find(c.jobs.begin(), c.jobs.end(), job) != c.jobs.end();
}

}  // namespace

bool IsFailure(db::RunStatus s) {
  return s == db::RunStatus::kFailed || s == db::RunStatus::kPartial ||
         s == db::RunStatus::kTimedOut;
}

std::string NoticeText(const RunNotice& n, NotificationConfig::Event event) {
  std::string what;
  switch (event) {
    case NotificationConfig::kFailure:
      what = fmt::format("{}", db::RunStatusName(n.status));
      break;
    case NotificationConfig::kRecovery:
      what = "recovered (succeeded after failing)";
      break;
    case NotificationConfig::kSuccess:
      what = "succeeded";
      break;
  }
  std::string run = n.run_id > 0 ? fmt::format("run {}", n.run_id) : std::string("run");
  std::string text = fmt::format(
      "lakesync: job {} {} ({}, {} job, attempt {}, trigger {}, {:.1f}s, on {})", n.job, what, run,
      n.kind, n.attempt, db::TriggerName(n.trigger), n.duration_seconds, n.runner_id);
  if (event == NotificationConfig::kFailure && !n.error.empty()) text += ": " + n.error;
  return text;
}

std::string WebhookBody(const RunNotice& n, NotificationConfig::Event event) {
  JsonWriter w;
  w.BeginObject();
  w.Key("text").String(NoticeText(n, event));
  w.Key("event").String(NotificationEventName(event));
  w.Key("job").String(n.job);
  w.Key("kind").String(n.kind);
  w.Key("status").String(db::RunStatusName(n.status));
  w.Key("run_id").Int(n.run_id);
  w.Key("attempt").Int(n.attempt);
  w.Key("trigger").String(db::TriggerName(n.trigger));
  w.Key("duration_seconds").Double(n.duration_seconds);
  w.Key("runner_id").String(n.runner_id);
  w.Key("error").String(n.error);
  w.EndObject();
  return w.Take();
}

Status PostWebhook(const std::string& url, const std::string& json_body, Duration timeout) {
  const std::string shown = RedactUrl(url);
  try {
    Poco::URI uri(url);
    std::unique_ptr<Poco::Net::HTTPClientSession> session;
    if (uri.getScheme() == "https") {
      Poco::Net::Context::Ptr context =
          new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, "", "", "",
                                 Poco::Net::Context::VERIFY_RELAXED, 9, /*loadDefaultCAs=*/true);
      session =
          std::make_unique<Poco::Net::HTTPSClientSession>(uri.getHost(), uri.getPort(), context);
    } else if (uri.getScheme() == "http") {
      session = std::make_unique<Poco::Net::HTTPClientSession>(uri.getHost(), uri.getPort());
    } else {
      return Status::InvalidArgument(fmt::format("webhook {} is not an http(s) URL", shown));
    }
    session->setTimeout(ToTimespan(timeout));
    // `timeout` bounds the whole request, not each read: an endpoint that trickles its answer
    // a byte at a time would otherwise hold the one delivery thread (every later notification,
    // and shutdown) for ever. A watchdog closes the socket at the deadline; the blocked read
    // then fails.
    std::mutex mu;
    std::condition_variable cv;
    bool done = false, aborted = false;
    std::thread watchdog([&] {
      std::unique_lock lock(mu);
      if (!cv.wait_for(lock, timeout, [&] { return done; })) {
        aborted = true;
        session->abort();
      }
    });
    auto stop_watchdog = [&] {
      {
        std::lock_guard lock(mu);
        done = true;
      }
      cv.notify_all();
      if (watchdog.joinable()) watchdog.join();
    };
    struct Joiner {
      std::function<void()> f;
      ~Joiner() { f(); }
    } joiner{stop_watchdog};
    std::string path = uri.getPathAndQuery();
    if (path.empty()) path = "/";
    Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_POST, path,
                                   Poco::Net::HTTPMessage::HTTP_1_1);
    request.setContentType("application/json");
    request.setContentLength(static_cast<std::streamsize>(json_body.size()));
    try {
      session->sendRequest(request) << json_body;
      Poco::Net::HTTPResponse response;
      std::istream& in = session->receiveResponse(response);
      int code = static_cast<int>(response.getStatus());
      // A 2xx is all that matters: its body is not read.
      if (code >= 200 && code < 300) return Status::OK();
      std::string answer(200, '\0');
      in.read(answer.data(), static_cast<std::streamsize>(answer.size()));
      answer.resize(static_cast<size_t>(std::max<std::streamsize>(in.gcount(), 0)));
      return Status::Unavailable(
          fmt::format("webhook {} answered {} {}", shown, code, RedactSecret(answer, url)));
    } catch (const Poco::Exception& e) {
      stop_watchdog();
      if (aborted) {
        return Status::Unavailable(fmt::format("webhook {}: no complete answer within {}", shown,
                                               FormatDuration(timeout)));
      }
      throw;
    }
  } catch (const Poco::Exception& e) {
    return Status::Unavailable(
        fmt::format("webhook {}: {}", shown, RedactSecret(e.displayText(), url)));
  } catch (const std::exception& e) {
    return Status::Unavailable(fmt::format("webhook {}: {}", shown, RedactSecret(e.what(), url)));
  }
}

Status SendEmail(const std::string& smtp_host_port, const std::string& from,
                 const std::vector<std::string>& to, const std::string& subject,
                 const std::string& body, Duration timeout) {
  size_t colon = smtp_host_port.rfind(':');
  if (colon == std::string::npos) {
    return Status::InvalidArgument(
        fmt::format("email smtp \"{}\" is not host:port", smtp_host_port));
  }
  try {
    std::string host = smtp_host_port.substr(0, colon);
    auto port = static_cast<Poco::UInt16>(std::stoi(smtp_host_port.substr(colon + 1)));
    Poco::Net::SMTPClientSession session(host, port);
    session.setTimeout(ToTimespan(timeout));
    session.login();
    Poco::Net::MailMessage message;
    message.setSender(from);
    for (const auto& rcpt : to) {
      message.addRecipient(
          Poco::Net::MailRecipient(Poco::Net::MailRecipient::PRIMARY_RECIPIENT, rcpt));
    }
    message.setSubject(Poco::Net::MailMessage::encodeWord(subject, "UTF-8"));
    message.setContentType("text/plain; charset=UTF-8");
    message.setContent(body, Poco::Net::MailMessage::ENCODING_8BIT);
    session.sendMessage(message);
    session.close();
    return Status::OK();
  } catch (const Poco::Exception& e) {
    return Status::Unavailable(fmt::format("email via {}: {}", smtp_host_port, e.displayText()));
  } catch (const std::exception& e) {
    return Status::Unavailable(fmt::format("email via {}: {}", smtp_host_port, e.what()));
  }
}

Notifier::Notifier(std::vector<NotificationConfig> configs, NotifierOptions options)
    : options_(options), configs_(std::move(configs)) {
  thread_ = std::thread([this] { Loop(); });
}

Notifier::~Notifier() { Shutdown(std::chrono::seconds(5)); }

void Notifier::Reconfigure(std::vector<NotificationConfig> configs) {
  std::lock_guard lock(mu_);
  configs_ = std::move(configs);
}

void Notifier::RunFinished(const RunNotice& notice) {
  if (notice.status == db::RunStatus::kCancelled || notice.status == db::RunStatus::kRunning) {
    return;
  }
  std::lock_guard lock(mu_);
  if (stopping_) return;
  const bool failed = IsFailure(notice.status);
  Streak& streak = streaks_[notice.job];
  // The previous run as the store records it (wherever it ran), else as this notifier saw it.
  const bool previous_failed = notice.previous_failed.value_or(streak.failing);
  // A failure is sent when a streak starts (the previous run succeeded: also when another
  // daemon or a `lakesync run` ran it), and when this notifier has not sent this streak's yet
  // (a failure recorded elsewhere, by a `lakesync run` or before a restart, may never have been
  // sent). A recovery whenever the previous run failed.
  const bool first_failure = failed && !(previous_failed && streak.failing);
  const bool recovered = !failed && previous_failed;
  const bool was_failing = streak.failing;
  streak.failures = failed ? (was_failing ? streak.failures + 1 : 1) : 0;
  streak.failing = failed;
  if (failed && !first_failure) {
    spdlog::info(
        "{}: run {} {} (not notified: the job was already failing and that was "
        "notified; its recovery will be)",
        notice.job, notice.run_id, db::RunStatusName(notice.status));
  }
  for (const NotificationConfig& c : configs_) {
    if (!Covers(c, notice.job)) continue;
    NotificationConfig::Event event;
    if (first_failure && c.on.count(NotificationConfig::kFailure)) {
      event = NotificationConfig::kFailure;
    } else if (recovered && c.on.count(NotificationConfig::kRecovery)) {
      event = NotificationConfig::kRecovery;
    } else if (!failed && c.on.count(NotificationConfig::kSuccess)) {
      event = NotificationConfig::kSuccess;
    } else {
      continue;
    }
    Message m;
    m.target = c;
    m.subject = NoticeText(notice, event);
    if (c.kind == NotificationConfig::kWebhook) {
      m.body = WebhookBody(notice, event);
    } else {
      m.body = m.subject + "\n\njob: " + notice.job + "\nkind: " + notice.kind +
               "\nstatus: " + std::string(db::RunStatusName(notice.status)) +
               "\nrun: " + std::to_string(notice.run_id) +
               "\nattempt: " + std::to_string(notice.attempt) +
               "\ntrigger: " + std::string(db::TriggerName(notice.trigger)) +
               "\nrunner: " + notice.runner_id + "\nerror: " + notice.error + "\n";
    }
    queue_.push_back(std::move(m));
  }
  cv_.notify_all();
}

Status Notifier::Deliver(const Message& m) const {
  if (m.target.kind == NotificationConfig::kWebhook) {
    return PostWebhook(m.target.webhook_url, m.body, options_.timeout);
  }
  return SendEmail(m.target.smtp, m.target.from, m.target.to, m.subject, m.body, options_.timeout);
}

void Notifier::Loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping with nothing left
    Message m = std::move(queue_.front());
    queue_.pop_front();
    const std::string where = m.target.kind == NotificationConfig::kWebhook
                                  ? "webhook " + RedactUrl(m.target.webhook_url)
                                  : "email via " + m.target.smtp;
    Duration pause = options_.backoff;
    bool sent = false;
    for (int attempt = 1; attempt <= std::max(options_.attempts, 1); ++attempt) {
      if (std::chrono::steady_clock::now() >= deadline_) break;
      lock.unlock();
      Status s = Deliver(m);
      lock.lock();
      if (s.ok()) {
        sent = true;
        break;
      }
      spdlog::warn("notification to {} failed (attempt {} of {}): {}", where, attempt,
                   options_.attempts, s.message());
      if (attempt < options_.attempts) {
        auto until = std::min(std::chrono::steady_clock::now() + pause, deadline_);
        cv_.wait_until(lock, until, [&] { return std::chrono::steady_clock::now() >= deadline_; });
        pause *= 2;
      }
    }
    if (sent) {
      ++delivered_;
      spdlog::debug("notification sent to {}: {}", where, m.subject);
    } else {
      ++dropped_;
      spdlog::error("notification to {} dropped after {} attempt(s): {}", where, options_.attempts,
                    m.subject);
    }
  }
}

void Notifier::Shutdown(Duration bound) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      stopping_ = true;
      deadline_ = std::chrono::steady_clock::now() + bound;
    }
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  if (!queue_.empty()) {
    spdlog::error("{} notification(s) not sent before shutdown", queue_.size());
    dropped_ += static_cast<int64_t>(queue_.size());
    queue_.clear();
  }
}

int64_t Notifier::delivered() const {
  std::lock_guard lock(mu_);
  return delivered_;
}

int64_t Notifier::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

}  // namespace lakesync::runner
