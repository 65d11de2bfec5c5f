// The notifier against local receivers (tests/tools/notify_receivers.h): which events notify,
// what is sent, retries, and that a dead endpoint never blocks the caller.

#include "runner/notifier.h"

#include <gtest/gtest.h>
#include <simdjson.h>

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

TEST(NotifierTest, FailureThenRecoveryThenQuietSuccess) {
  WebhookReceiver hook;
  Notifier notifier({Webhook(hook.url())}, {3, 10ms, 2s});
  notifier.RunFinished(Notice("orders", db::RunStatus::kSucceeded, 1));  // nothing: no failure
  notifier.RunFinished(Notice("orders", db::RunStatus::kFailed, 2));     // failure
  notifier.RunFinished(Notice("orders", db::RunStatus::kCancelled, 3));  // ignored
  notifier.RunFinished(Notice("orders", db::RunStatus::kTimedOut, 4));   // failure
  notifier.RunFinished(Notice("orders", db::RunStatus::kSucceeded, 5));  // recovery
  notifier.RunFinished(Notice("orders", db::RunStatus::kSucceeded, 6));  // nothing
  ASSERT_TRUE(hook.WaitFor(3, 5s));
  notifier.Shutdown(2s);
  auto got = hook.received();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(Field(got[0], "event"), "failure");
  EXPECT_EQ(Field(got[0], "status"), "failed");
  EXPECT_NE(Field(got[0], "text").find("job orders failed (run 2"), std::string::npos) << got[0];
  EXPECT_NE(Field(got[0], "text").find("cannot read the source"), std::string::npos);
  EXPECT_EQ(Field(got[1], "status"), "timed_out");
  EXPECT_EQ(Field(got[2], "event"), "recovery");
  EXPECT_NE(Field(got[2], "text").find("recovered"), std::string::npos);
  EXPECT_EQ(notifier.delivered(), 3);
  EXPECT_EQ(notifier.dropped(), 0);
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
  for (int i = 0; i < 20; ++i) notifier.RunFinished(Notice("j", db::RunStatus::kFailed, i + 1));
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

}  // namespace
}  // namespace lakesync::runner
