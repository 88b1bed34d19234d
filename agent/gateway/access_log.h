// The gateway's access log: one JSON object per line for every request (HTTP) or connection
// (TLS passthrough, TCP) and every refused flow, with the keys Istio's JSON access log has
// (`start_time`, `response_code`, `response_flags`, ...; typed numbers, null when unset) and the
// attested source and the deciding policy besides. Lines are buffered and written by one thread,
// so a request never waits on the disk.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace warden::gateway {

struct AccessEntry {
  absl::Time start_time;
  std::string method, path, protocol, authority, user_agent, request_id, x_forwarded_for;
  std::optional<int> response_code;
  std::string response_flags = "-";
  std::string response_code_details, connection_termination_details,
      upstream_transport_failure_reason;
  uint64_t bytes_received = 0, bytes_sent = 0;
  int64_t duration_ms = 0;
  std::optional<int64_t> upstream_service_time_ms;
  std::string upstream_host, upstream_cluster, upstream_local_address;
  std::string downstream_local_address, downstream_remote_address, requested_server_name;
  // Warden's: who sent it (attested), where it was going, what decided.
  std::string source_node, source_namespace, source_pod, source_service_account, source_principal;
  std::string original_destination;
  std::string verdict, policy, rule;
  // The namespace of the ServiceEntry that registered the host (Istio's
  // destination_service_namespace); not a field of the access log's JSON.
  std::string service_namespace;
  uint64_t flow_id = 0;
};

std::string AccessLine(const AccessEntry& e);  // one JSON object, no newline

class AccessLog {
 public:
  // `path` "-" writes to standard output.
  static absl::StatusOr<std::unique_ptr<AccessLog>> Open(const std::string& path);
  ~AccessLog();
  void Write(const AccessEntry& e);

 private:
  explicit AccessLog(std::FILE* f, bool owned);
  void FlushLoop();

  std::FILE* f_;
  bool owned_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string pending_;
  bool stop_ = false;
  std::thread writer_;
};

}  // namespace warden::gateway
