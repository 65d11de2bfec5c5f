#include "runner/http_server.h"

#include <Poco/Exception.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <exception>

namespace lakesync::runner {
namespace {

using Routes = std::map<std::string, HttpHandler>;

class RouteHandler final : public Poco::Net::HTTPRequestHandler {
 public:
  explicit RouteHandler(const Routes& routes) : routes_(routes) {}

  void handleRequest(Poco::Net::HTTPServerRequest& request,
                     Poco::Net::HTTPServerResponse& response) override {
    HttpResponse answer;
    const std::string& method = request.getMethod();
    std::string path = request.getURI();
    if (size_t q = path.find('?'); q != std::string::npos) path.resize(q);
    auto it = routes_.find(path);
    if (method != "GET" && method != "HEAD") {
      answer = {405, "text/plain; charset=utf-8", "only GET and HEAD are supported\n"};
    } else if (it == routes_.end()) {
      std::string known;
      for (const auto& [p, h] : routes_) known += " " + p;
      answer = {404, "text/plain; charset=utf-8", "not found; try:" + known + "\n"};
    } else {
      try {
        answer = it->second();
      } catch (const std::exception& e) {
        answer = {500, "text/plain; charset=utf-8", std::string("internal error: ") + e.what()};
      }
    }
    try {
      response.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(answer.status));
      response.setContentType(answer.content_type);
      response.setContentLength(static_cast<std::streamsize>(answer.body.size()));
      std::ostream& out = response.send();
      if (method != "HEAD") out << answer.body;
    } catch (const std::exception& e) {
      spdlog::debug("http: could not answer {}: {}", path, e.what());  // the client went away
    }
  }

 private:
  const Routes& routes_;
};

class Factory final : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  explicit Factory(const Routes& routes) : routes_(routes) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(
      const Poco::Net::HTTPServerRequest&) override {
    return new RouteHandler(routes_);
  }

 private:
  const Routes& routes_;
};

}  // namespace

struct HttpServer::Impl {
  Routes routes;
  std::unique_ptr<Poco::Net::HTTPServer> server;
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl, int port)
    : impl_(std::move(impl)), port_(port) {}

HttpServer::~HttpServer() {
  if (impl_ && impl_->server) {
    try {
      impl_->server->stopAll(/*abortCurrent=*/false);
    } catch (const std::exception& e) {
      spdlog::warn("http: stopping the server: {}", e.what());
    }
  }
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(std::string_view listen, Routes routes) {
  size_t colon = listen.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return Status::InvalidArgument(
        fmt::format("runner.listen \"{}\" is not host:port; write e.g. 127.0.0.1:9464", listen));
  }
  std::string host(listen.substr(0, colon));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  int port = 0;
  try {
    port = std::stoi(std::string(listen.substr(colon + 1)));
  } catch (const std::exception&) {
    port = -1;
  }
  if (port < 0 || port > 65535) {
    return Status::InvalidArgument(
        fmt::format("runner.listen \"{}\" has no valid port (0-65535)", listen));
  }
  auto impl = std::make_unique<Impl>();
  impl->routes = std::move(routes);
  try {
    // SO_REUSEADDR (restart while old connections linger) but not SO_REUSEPORT, which Poco's
    // convenience constructor also sets: two daemons must not share a port unnoticed.
    Poco::Net::ServerSocket socket;
    socket.bind(Poco::Net::SocketAddress(host, static_cast<uint16_t>(port)),
                /*reuseAddress=*/true, /*reusePort=*/false);
    socket.listen(/*backlog=*/64);
    int bound = socket.address().port();
    auto* params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(4);
    params->setMaxQueued(32);
    params->setKeepAlive(false);
    impl->server = std::make_unique<Poco::Net::HTTPServer>(
        new Factory(impl->routes), socket, Poco::Net::HTTPServerParams::Ptr(params));
    impl->server->start();
    return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl), bound));
  } catch (const Poco::Exception& e) {
    return Status::Unavailable(
        fmt::format("cannot listen on {} (runner.listen): {}; pick a free "
                    "port or stop the process using it",
                    listen, e.displayText()));
  } catch (const std::exception& e) {
    return Status::Unavailable(
        fmt::format("cannot listen on {} (runner.listen): {}", listen, e.what()));
  }
}

}  // namespace lakesync::runner
