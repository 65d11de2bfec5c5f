#pragma once

// Local receivers for notification tests: an HTTP server that records webhook POSTs and a
// minimal SMTP server that records the mail it is given. Each listens on 127.0.0.1 on a free
// port, serves one connection at a time on its own thread, and stops when destroyed.
// Header-only test code (Poco::Net); used by runner/notifier_test.cc and tests/daemon_test.cc.

#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Timespan.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace lakesync::testing {

class LocalReceiver {
 public:
  virtual ~LocalReceiver() { Stop(); }

  int port() const { return port_; }

  // Everything recorded so far (webhook bodies / mail DATA).
  std::vector<std::string> received() const {
    std::lock_guard lock(mu_);
    return received_;
  }
  // Waits until at least `n` items were recorded; false after `timeout`.
  bool WaitFor(size_t n, std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return received_.size() >= n; });
  }
  int connections() const { return connections_.load(); }

 protected:
  void Start() {
    socket_ = Poco::Net::ServerSocket(Poco::Net::SocketAddress("127.0.0.1", 0), 16);
    port_ = socket_.address().port();
    thread_ = std::thread([this] { Serve(); });
  }
  void Stop() {
    if (stop_.exchange(true)) return;
    if (thread_.joinable()) thread_.join();
    socket_.close();
  }
  void Record(std::string item) {
    std::lock_guard lock(mu_);
    received_.push_back(std::move(item));
    cv_.notify_all();
  }
  // Reads one line ending in \n (without \r\n); false when the peer closed.
  static bool ReadLine(Poco::Net::StreamSocket& s, std::string& buffer, std::string& line) {
    for (;;) {
      size_t nl = buffer.find('\n');
      if (nl != std::string::npos) {
        line = buffer.substr(0, nl);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        buffer.erase(0, nl + 1);
        return true;
      }
      char chunk[4096];
      int n = s.receiveBytes(chunk, sizeof(chunk));
      if (n <= 0) return false;
      buffer.append(chunk, static_cast<size_t>(n));
    }
  }
  static void SendAll(Poco::Net::StreamSocket& s, const std::string& text) {
    size_t sent = 0;
    while (sent < text.size()) {
      int n = s.sendBytes(text.data() + sent, static_cast<int>(text.size() - sent));
      if (n <= 0) return;
      sent += static_cast<size_t>(n);
    }
  }
  virtual void Handle(Poco::Net::StreamSocket& s) = 0;

 private:
  void Serve() {
    while (!stop_) {
      if (!socket_.poll(Poco::Timespan(0, 50000), Poco::Net::Socket::SELECT_READ)) continue;
      try {
        Poco::Net::StreamSocket s = socket_.acceptConnection();
        s.setReceiveTimeout(Poco::Timespan(5, 0));
        ++connections_;
        Handle(s);
        s.close();
      } catch (const std::exception&) {
        // A broken test connection: keep serving.
      }
    }
  }

  Poco::Net::ServerSocket socket_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<std::string> received_;
};

// Records the body of every POST; answers 500 to the first `fail_first` requests, then 200.
class WebhookReceiver final : public LocalReceiver {
 public:
  explicit WebhookReceiver(int fail_first = 0) : fail_left_(fail_first) { Start(); }
  ~WebhookReceiver() override { Stop(); }
  std::string url(const std::string& path = "/hooks/T000/B000/SECRETsecret") const {
    return "http://127.0.0.1:" + std::to_string(port()) + path;
  }

 private:
  void Handle(Poco::Net::StreamSocket& s) override {
    std::string buffer, line;
    size_t length = 0;
    if (!ReadLine(s, buffer, line)) return;  // request line
    while (ReadLine(s, buffer, line) && !line.empty()) {
      std::string lower;
      for (char c : line) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lower.rfind("content-length:", 0) == 0) length = std::stoul(line.substr(15));
    }
    while (buffer.size() < length) {
      char chunk[4096];
      int n = s.receiveBytes(chunk, sizeof(chunk));
      if (n <= 0) break;
      buffer.append(chunk, static_cast<size_t>(n));
    }
    if (fail_left_ > 0) {
      --fail_left_;
      SendAll(s,
              "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\nConnection: "
              "close\r\n\r\nfail");
      return;
    }
    Record(buffer.substr(0, length));
    SendAll(s, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
  }
  std::atomic<int> fail_left_;
};

// A minimal SMTP server: records "FROM:<a>\nTO:<b>\n\n<DATA>" for every message.
class SmtpReceiver final : public LocalReceiver {
 public:
  SmtpReceiver() { Start(); }
  ~SmtpReceiver() override { Stop(); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port()); }

 private:
  void Handle(Poco::Net::StreamSocket& s) override {
    SendAll(s, "220 localhost test SMTP\r\n");
    std::string buffer, line, envelope;
    while (ReadLine(s, buffer, line)) {
      std::string verb = line.substr(0, 4);
      for (char& c : verb) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (verb == "EHLO" || verb == "HELO") {
        SendAll(s, "250 localhost\r\n");
      } else if (verb == "MAIL" || verb == "RCPT") {
        // "RCPT TO: <a>" and "RCPT TO:<a>" are both accepted; recorded without the space.
        if (size_t colon = line.find(": <"); colon != std::string::npos) line.erase(colon + 1, 1);
        envelope += line + "\n";
        SendAll(s, "250 OK\r\n");
      } else if (verb == "DATA") {
        SendAll(s, "354 go ahead\r\n");
        std::string data;
        while (ReadLine(s, buffer, line) && line != ".") data += line + "\n";
        Record(envelope + "\n" + data);
        envelope.clear();
        SendAll(s, "250 OK queued\r\n");
      } else if (verb == "QUIT") {
        SendAll(s, "221 bye\r\n");
        return;
      } else {
        SendAll(s, "250 OK\r\n");
      }
    }
  }
};

}  // namespace lakesync::testing
