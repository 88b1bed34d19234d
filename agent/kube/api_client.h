// HTTPS GETs to the Kubernetes API server: whole answers (lists) and streamed ones (watches),
// each on its own connection, with deadlines, and stoppable from another thread. The server's
// certificate is verified against the configured CA and name; the bearer token file is read
// again for every request.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "agent/kube/api_config.h"

namespace warden::kube {

struct ApiResponse {
  unsigned status = 0;
  std::string body;  // the whole body; for a stream, only when status is not 200
};

struct ApiTimeouts {
  std::chrono::milliseconds connect{10000};  // connect, TLS handshake, request and headers
  std::chrono::milliseconds request{60000};  // a whole non-streamed answer
  std::chrono::milliseconds idle{90000};     // a stream with no bytes this long is cut
  size_t max_body = 512u << 20;              // of a whole answer
  size_t max_line = 64u << 20;               // of a streamed line (one watch event)
};

class ApiClient {
 public:
  static absl::StatusOr<std::unique_ptr<ApiClient>> Create(ApiServerConfig cfg,
                                                           ApiTimeouts timeouts = {});
  ~ApiClient();

  // GET `target` (path and query, without the server's path prefix).
  absl::StatusOr<ApiResponse> Get(const std::string& target);
  // GET `target` and hand each line of a 200 answer's body to `on_line` (false stops) until the
  // server ends the body. OK when the body ended or on_line stopped; DeadlineExceeded when no
  // byte came for `idle`; Unavailable when the connection broke. A non-200 answer is returned
  // whole, with no line handed over.
  absl::StatusOr<ApiResponse> Stream(const std::string& target,
                                     const std::function<bool(std::string_view)>& on_line);
  // Ends the call under way (Cancelled) and refuses later ones. Any thread.
  void Stop();

  const ApiServerConfig& config() const { return cfg_; }

 private:
  struct Tls;
  ApiClient(ApiServerConfig cfg, ApiTimeouts timeouts, std::unique_ptr<Tls> tls);
  absl::StatusOr<ApiResponse> Call(const std::string& target,
                                   const std::function<bool(std::string_view)>* on_line);

  ApiServerConfig cfg_;
  ApiTimeouts timeouts_;
  std::unique_ptr<Tls> tls_;
  std::mutex mu_;
  bool stopped_ = false;
  void* running_ = nullptr;  // the io_context of the call under way (mu_)
};

}  // namespace warden::kube
