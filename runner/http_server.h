#pragma once

// A small HTTP server for the daemon's operational endpoints (/healthz, /readyz, /metrics):
// GET (and HEAD) on fixed paths, each answered by a handler function. Poco::Net stays inside
// this adapter (http_server.cc); no Poco type or exception crosses this header.
//
// Thread-safety: handlers run on the server's own threads, possibly concurrently; they must be
// thread-safe. The route table is fixed at Start.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace lakesync::runner {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

using HttpHandler = std::function<HttpResponse()>;

class HttpServer {
 public:
  // Listens on `listen` ("host:port"; port 0 picks a free port, see port()) and serves `routes`
  // (exact paths; anything else is 404, methods other than GET/HEAD are 405).
  // Errors: InvalidArgument for a malformed address; Unavailable when it cannot bind (in use).
  [[nodiscard]] static Result<std::unique_ptr<HttpServer>> Start(
      std::string_view listen, std::map<std::string, HttpHandler> routes);
  // Stops accepting and waits for requests in progress.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl, int port);
  std::unique_ptr<Impl> impl_;
  int port_;
};

}  // namespace lakesync::runner
