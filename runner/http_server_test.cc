#include "runner/http_server.h"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <gtest/gtest.h>

#include <iterator>
#include <string>

namespace lakesync::runner {
namespace {

struct Answer {
  int status = 0;
  std::string content_type;
  std::string body;
};

Answer Fetch(int port, const std::string& method, const std::string& path) {
  Poco::Net::HTTPClientSession session("127.0.0.1", static_cast<Poco::UInt16>(port));
  Poco::Net::HTTPRequest request(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
  session.sendRequest(request);
  Poco::Net::HTTPResponse response;
  std::istream& in = session.receiveResponse(response);
  Answer a;
  a.status = static_cast<int>(response.getStatus());
  a.content_type = response.getContentType();
  a.body.assign(std::istreambuf_iterator<char>(in), {});
  return a;
}

TEST(HttpServerTest, ServesRoutesAndRejectsTheRest) {
  int calls = 0;
  std::map<std::string, HttpHandler> routes;
  routes["/healthz"] = [] { return HttpResponse{200, "text/plain", "ok\n"}; };
  routes["/readyz"] = [&calls] {
    ++calls;
    return HttpResponse{503, "text/plain", "not ready\n"};
  };
  auto server = HttpServer::Start("127.0.0.1:0", routes);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const int port = (*server)->port();
  ASSERT_GT(port, 0);

  Answer a = Fetch(port, "GET", "/healthz");
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body, "ok\n");
  EXPECT_EQ(a.content_type, "text/plain");
  a = Fetch(port, "GET", "/readyz?verbose=1");
  EXPECT_EQ(a.status, 503);
  EXPECT_EQ(a.body, "not ready\n");
  EXPECT_EQ(calls, 1);
  a = Fetch(port, "GET", "/nope");
  EXPECT_EQ(a.status, 404);
  EXPECT_NE(a.body.find("/healthz"), std::string::npos);
  a = Fetch(port, "POST", "/healthz");
  EXPECT_EQ(a.status, 405);

  // The port is taken while the server runs.
  auto second = HttpServer::Start("127.0.0.1:" + std::to_string(port), {});
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
}

TEST(HttpServerTest, RejectsMalformedAddresses) {
  for (const char* bad : {"9464", "localhost:", "127.0.0.1:99999", "127.0.0.1:x"}) {
    auto server = HttpServer::Start(bad, {});
    EXPECT_EQ(server.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace lakesync::runner
