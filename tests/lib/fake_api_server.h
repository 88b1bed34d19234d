// A stand-in for the Kubernetes API server (the one fake the tests may use: no API server runs
// on these machines): HTTPS on loopback with a lab-PKI certificate, each request handed to the
// test's handler, which answers whole (a list, an error Status), streams watch events line by
// line (a chunk each), stalls, or breaks the connection mid-stream.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace warden::testlib {

struct ApiRequest {
  std::string target;         // path and query
  std::string authorization;  // the Authorization header
  // The value of query parameter `key` ("" when absent).
  std::string Param(const std::string& key) const;
  std::string Path() const { return target.substr(0, target.find('?')); }
};

class ApiExchange {
 public:
  virtual ~ApiExchange() = default;
  virtual void Respond(int status, const std::string& body) = 0;
  // A 200 streamed answer: Line() sends one event, End() ends the body properly, Break()
  // closes the connection without ending it.
  virtual void StartStream() = 0;
  virtual void Line(const std::string& line) = 0;
  virtual void End() = 0;
  virtual void Break() = 0;
  // Whether the server is stopping (a stream handler waits on this rather than sleeping).
  virtual bool Stopping() const = 0;
  // Waits until `ms` passed or the server stops.
  virtual void Pause(int ms) = 0;
};

class FakeApiServer {
 public:
  using Handler = std::function<void(const ApiRequest&, ApiExchange&)>;
  // Serves on 127.0.0.1 (a free port), with a certificate for 127.0.0.1 made in `pki_dir`.
  explicit FakeApiServer(const std::string& pki_dir, Handler handler);
  ~FakeApiServer();
  int port() const { return port_; }
  std::string ca_pem() const;
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }
  // Every request so far, in order.
  std::vector<ApiRequest> requests() const;
  // Stops accepting and ends every exchange under way.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

// Convenience: a List body of `kind` with `items` (JSON objects) at resourceVersion `rv`.
std::string ListBody(const std::string& kind, const std::string& api_version,
                     const std::vector<std::string>& items, const std::string& rv,
                     const std::string& continue_token = "");
// A watch event line.
std::string Event(const std::string& type, const std::string& object_json);
std::string Bookmark(const std::string& rv, bool initial_events_end = false);
std::string StatusBody(int code, const std::string& reason, const std::string& message);

}  // namespace warden::testlib
