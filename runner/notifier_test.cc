// The notifier against local receivers (tests/tools/notify_receivers.h): which events notify,
// what is sent, retries, and that a dead endpoint never blocks the caller.

#include "runner/notifier.h"

#include <gtest/gtest.h>

#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/StreamSocket.h>

#include <simdjson.h>
#include <atomic>
#include <thread>

#include <chrono>

#include "tests/tools/notify_receivers.h"

namespace lakesync::runner {
namespace {

using namespace std::chrono_literals;
using lakesync::testing::SmtpReceiver;
using lakesync::testing::WebhookReceiver;

NotificationConfig Webhook(const std::string& url,
                           std::set<NotificationConfig::Event> on = {
                               NotificationConfig::kFailure, NotificationConfig::kRecovery}) {
  NotificationConfig c;
  c.kind = NotificationConfig::kWebhook;
  c.webhook_url = url;
  c.on = std::move(on);
  return c;
}

RunNotice Notice(const std::string& job, db::RunStatus status, int64_t run_id) {
  RunNotice n;
  n.job = job;
  n.kind = "incremental";
  n.status = status;
  n.run_id = run_id;
  n.runner_id = "r1";
  if (status != db::RunStatus::kSucceeded) n.error = "cannot read the source";
  return n;
}

std::string Field(const std::string& json, const char* key) {
  simdjson::dom::parser parser;
  auto doc = parser.parse(json);
  if (doc.error()) return "<bad json>";
  std::string_view v;
  if (doc[key].get(v)) return "<missing>";
  return std::string(v);
}

// One alert per streak of failures: its first run; the retries and runs that fail after it
// are not sent again (the old code sent every one: an outage with `retries: {max: 3}` and
// `every: 5m` was four alerts every five minutes), and the recovery closes the streak.
TEST(NotifierTest, FailureOncePerStreakThenRecoveryThenQuietSuccess) {
  WebhookReceiver hook;
  Notifier notifier({Webhook(hook.url())}, {3, 10ms, 2s});
  notifier.RunFinished(Notice("orders", db::RunStatus::kSucceeded, 1));  // nothing: no failure
  notifier.RunFinished(Notice("orders", db::RunStatus::kFailed, 2));     // failure
  notifier.RunFinished(Notice("orders", db::RunStatus::kCancelled, 3));  // ignored
  notifier.RunFinished(Notice("orders", db::RunStatus::kTimedOut, 4));   // still failing
  notifier.RunFinished(Notice("orders", db::RunStatus::kFailed, 5));     // still failing
  notifier.RunFinished(Notice("orders", db::RunStatus::kSucceeded, 6));  // recovery
  notifier.RunFinished(Notice("orders", db::RunStatus::kSucceeded, 7));  // nothing
  notifier.RunFinished(Notice("orders", db::RunStatus::kPartial, 8));    // a new streak
  ASSERT_TRUE(hook.WaitFor(3, 5s));
  notifier.Shutdown(2s);
  auto got = hook.received();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(Field(got[0], "event"), "failure");
  EXPECT_EQ(Field(got[0], "status"), "failed");
  EXPECT_NE(Field(got[0], "text").find("job orders failed (run 2"), std::string::npos) << got[0];
  EXPECT_NE(Field(got[0], "text").find("cannot read the source"), std::string::npos);
  EXPECT_EQ(Field(got[1], "event"), "recovery");
  EXPECT_NE(Field(got[1], "text").find("recovered"), std::string::npos);
  EXPECT_EQ(Field(got[2], "event"), "failure");
  EXPECT_EQ(Field(got[2], "status"), "partial");
  EXPECT_EQ(notifier.delivered(), 3);
  EXPECT_EQ(notifier.dropped(), 0);
}

// The recovery is judged from the previous run as the state store records it: a daemon
// restarted after reporting a failure, or a runner other than the one that saw it, still sends
// the recovery (the old code kept the failing state in memory only: no recovery after a
// restart). A failure this notifier has not seen yet is sent, once: one recorded elsewhere (a
// `lakesync run`, before a restart) may never have been.
TEST(NotifierTest, RecoveryFollowsTheStoreAndFailuresAreSentOncePerNotifier) {
  WebhookReceiver hook;
  Notifier notifier({Webhook(hook.url())}, {3, 10ms, 2s});
  RunNotice orders = Notice("orders", db::RunStatus::kSucceeded, 10);
  orders.previous_failed = true;  // failed under another daemon
  notifier.RunFinished(orders);   // recovery
  for (int64_t id : {11, 12}) {
    RunNotice billing = Notice("billing", db::RunStatus::kFailed, id);
    billing.previous_failed = true;  // failing before this daemon started
    notifier.RunFinished(billing);   // 11: failure (first seen here); 12: not sent
  }
  RunNotice back = Notice("billing", db::RunStatus::kSucceeded, 13);
  back.previous_failed = true;
  notifier.RunFinished(back);  // recovery
  RunNotice fine = Notice("orders", db::RunStatus::kSucceeded, 14);
  fine.previous_failed = false;
  notifier.RunFinished(fine);  // nothing
  // Failing here, then another daemon's run succeeded (and sent the recovery): a new failure
  // here starts a new streak and is sent.
  RunNotice down = Notice("ledger", db::RunStatus::kFailed, 15);
  down.previous_failed = false;
  notifier.RunFinished(down);  // failure
  RunNotice down_again = Notice("ledger", db::RunStatus::kFailed, 17);
  down_again.previous_failed = false;  // run 16 succeeded under another daemon
  notifier.RunFinished(down_again);    // failure
  ASSERT_TRUE(hook.WaitFor(5, 5s));
  notifier.Shutdown(2s);
  auto got = hook.received();
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(Field(got[3], "event"), "failure");
  EXPECT_NE(Field(got[3], "text").find("run 15"), std::string::npos) << got[3];
  EXPECT_EQ(Field(got[4], "event"), "failure");
  EXPECT_NE(Field(got[4], "text").find("run 17"), std::string::npos) << got[4];
  EXPECT_EQ(Field(got[0], "event"), "recovery");
  EXPECT_NE(Field(got[0], "text").find("orders"), std::string::npos) << got[0];
  EXPECT_EQ(Field(got[1], "event"), "failure");
  EXPECT_NE(Field(got[1], "text").find("run 11"), std::string::npos) << got[1];
  EXPECT_EQ(Field(got[2], "event"), "recovery");
  EXPECT_NE(Field(got[2], "text").find("billing"), std::string::npos) << got[2];
}

TEST(NotifierTest, SuccessEventsAndJobFilter) {
  WebhookReceiver hook;
  NotificationConfig c = Webhook(hook.url(), {NotificationConfig::kSuccess});
  c.jobs = {"a"};
  Notifier notifier({c}, {3, 10ms, 2s});
  notifier.RunFinished(Notice("b", db::RunStatus::kSucceeded, 1));
  notifier.RunFinished(Notice("a", db::RunStatus::kFailed, 2));
  notifier.RunFinished(Notice("a", db::RunStatus::kSucceeded, 3));
  notifier.Shutdown(5s);
  auto got = hook.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(Field(got[0], "job"), "a");
  EXPECT_EQ(Field(got[0], "event"), "success");
}

TEST(NotifierTest, RetriesAFailingEndpoint) {
  WebhookReceiver hook(/*fail_first=*/2);
  Notifier notifier({Webhook(hook.url())}, {3, 10ms, 2s});
  notifier.RunFinished(Notice("j", db::RunStatus::kFailed, 1));
  ASSERT_TRUE(hook.WaitFor(1, 5s));
  notifier.Shutdown(2s);
  EXPECT_EQ(hook.connections(), 3);
  EXPECT_EQ(notifier.delivered(), 1);
}

TEST(NotifierTest, ADeadEndpointNeverBlocksTheCaller) {
  // Nothing listens on this port (a receiver that was stopped).
  std::string url;
  {
    WebhookReceiver gone;
    url = gone.url();
  }
  Notifier notifier({Webhook(url)}, {2, 10ms, 500ms});
  auto start = std::chrono::steady_clock::now();
  // Twenty jobs failing (one job's failures after its first are not sent).
  for (int i = 0; i < 20; ++i) {
    notifier.RunFinished(Notice("j" + std::to_string(i), db::RunStatus::kFailed, i + 1));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 100ms);
  notifier.Shutdown(300ms);
  EXPECT_EQ(notifier.delivered(), 0);
  EXPECT_EQ(notifier.dropped(), 20);
}

TEST(NotifierTest, EmailsOverSmtp) {
  SmtpReceiver smtp;
  NotificationConfig c;
  c.kind = NotificationConfig::kEmail;
  c.smtp = smtp.address();
  c.from = "lakesync@example.com";
  c.to = {"ops@example.com", "dev@example.com"};
  Notifier notifier({c}, {3, 10ms, 2s});
  notifier.RunFinished(Notice("orders", db::RunStatus::kPartial, 7));
  ASSERT_TRUE(smtp.WaitFor(1, 5s));
  notifier.Shutdown(2s);
  std::string mail = smtp.received()[0];
  EXPECT_NE(mail.find("lakesync@example.com"), std::string::npos) << mail;
  EXPECT_NE(mail.find("RCPT TO:<ops@example.com>"), std::string::npos) << mail;
  EXPECT_NE(mail.find("RCPT TO:<dev@example.com>"), std::string::npos) << mail;
  EXPECT_NE(mail.find("job orders partial (run 7"), std::string::npos) << mail;
  EXPECT_NE(mail.find("error: cannot read the source"), std::string::npos) << mail;
}

TEST(NotifierTest, WebhookErrorsNeverShowTheSecretPath) {
  WebhookReceiver hook(/*fail_first=*/1);
  Status s = PostWebhook(hook.url(), "{}", 2s);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message().find("SECRETsecret"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("500"), std::string::npos) << s.message();
  EXPECT_TRUE(PostWebhook(hook.url(), "{}", 2s).ok());
  EXPECT_EQ(PostWebhook("ftp://example.com/x", "{}", 1s).code(), StatusCode::kInvalidArgument);
}

// An endpoint that answers a byte every 200 ms and never finishes: with a 1 s timeout the post
// ends within about 1 s (before, each read had the timeout, so it waited for ever: the one
// delivery thread, every later notification and shutdown with it). A 2xx whose body trickles
// is a success as soon as its status line and headers are in.
TEST(NotifierTest, ATricklingWebhookIsCutOffAtTheTimeout) {
  for (bool headers_first : {false, true}) {
    SCOPED_TRACE(headers_first ? "2xx headers, then a trickling body" : "trickling headers");
    Poco::Net::ServerSocket server(Poco::Net::SocketAddress("127.0.0.1", 0));
    std::atomic<bool> stop{false};
    std::thread serve([&] {
      Poco::Net::StreamSocket client = server.acceptConnection();
      char buf[4096];
      client.setReceiveTimeout(Poco::Timespan(2, 0));
      try {
        client.receiveBytes(buf, sizeof buf);  // the request (small: one read)
      } catch (const Poco::Exception&) {
      }
      std::string answer = headers_first ? "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"
                                         : "HTTP/1.1 200 OK\r\nX-Slow: " + std::string(1000, 'x');
      size_t sent = 0;
      if (headers_first) {
        client.sendBytes(answer.data(), static_cast<int>(answer.size()));
        answer = std::string(1000, 'y');
      }
      while (!stop && sent < answer.size()) {
        try {
          client.sendBytes(answer.data() + sent, 1);
        } catch (const Poco::Exception&) {
          break;
        }
        ++sent;
        std::this_thread::sleep_for(200ms);
      }
    });
    const std::string url =
        "http://127.0.0.1:" + std::to_string(server.address().port()) + "/hooks/SECRETsecret";
    const auto start = std::chrono::steady_clock::now();
    Status s = PostWebhook(url, "{}", 1s);
    const auto took = std::chrono::steady_clock::now() - start;
    stop = true;
    serve.join();
    EXPECT_LT(took, 3s);
    if (headers_first) {
      EXPECT_TRUE(s.ok()) << s;
    } else {
      EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s;
      EXPECT_NE(s.message().find("no complete answer within 1s"), std::string::npos) << s;
      EXPECT_EQ(s.message().find("SECRETsecret"), std::string::npos) << s;
    }
  }
}

}  // namespace
}  // namespace lakesync::runner
