#include "agent/gateway/access_log.h"

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace warden::gateway {
namespace {

nlohmann::json OrNull(const std::string& s) {
  return s.empty() ? nlohmann::json() : nlohmann::json(s);
}

// A line is written once this much is buffered, or after this long.
constexpr size_t kFlushBytes = 64 * 1024;
constexpr auto kFlushEvery = std::chrono::milliseconds(100);

}  // namespace

std::string AccessLine(const AccessEntry& e) {
  nlohmann::json j;
  j["start_time"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", e.start_time, absl::UTCTimeZone());
  j["method"] = OrNull(e.method);
  j["path"] = OrNull(e.path);
  j["protocol"] = OrNull(e.protocol);
  j["response_code"] = e.response_code ? nlohmann::json(*e.response_code) : nlohmann::json();
  j["response_flags"] = e.response_flags;
  j["response_code_details"] = OrNull(e.response_code_details);
  j["connection_termination_details"] = OrNull(e.connection_termination_details);
  j["upstream_transport_failure_reason"] = OrNull(e.upstream_transport_failure_reason);
  j["bytes_received"] = e.bytes_received;
  j["bytes_sent"] = e.bytes_sent;
  j["duration"] = e.duration_ms;
  j["upstream_service_time"] =
      e.upstream_service_time_ms ? nlohmann::json(*e.upstream_service_time_ms) : nlohmann::json();
  j["x_forwarded_for"] = OrNull(e.x_forwarded_for);
  j["user_agent"] = OrNull(e.user_agent);
  j["request_id"] = OrNull(e.request_id);
  j["authority"] = OrNull(e.authority);
  j["upstream_host"] = OrNull(e.upstream_host);
  j["upstream_cluster"] = OrNull(e.upstream_cluster);
  j["upstream_local_address"] = OrNull(e.upstream_local_address);
  j["downstream_local_address"] = OrNull(e.downstream_local_address);
  j["downstream_remote_address"] = OrNull(e.downstream_remote_address);
  j["requested_server_name"] = OrNull(e.requested_server_name);
  j["source_node"] = OrNull(e.source_node);
  j["source_namespace"] = OrNull(e.source_namespace);
  j["source_pod"] = OrNull(e.source_pod);
  j["source_service_account"] = OrNull(e.source_service_account);
  j["source_principal"] = OrNull(e.source_principal);
  j["original_destination"] = OrNull(e.original_destination);
  j["verdict"] = OrNull(e.verdict);
  j["policy"] = OrNull(e.policy);
  j["rule"] = OrNull(e.rule);
  j["flow_id"] = e.flow_id;
  // Names and paths come from the network: invalid UTF-8 is replaced, never a throw.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

absl::StatusOr<std::unique_ptr<AccessLog>> AccessLog::Open(const std::string& path) {
  if (path == "-") return std::unique_ptr<AccessLog>(new AccessLog(stdout, false));
  std::FILE* f = std::fopen(path.c_str(), "a");
  if (!f) {
    return absl::InvalidArgumentError(
        absl::StrCat("--access-log ", path, ": ", std::strerror(errno)));
  }
  return std::unique_ptr<AccessLog>(new AccessLog(f, true));
}

AccessLog::AccessLog(std::FILE* f, bool owned)
    : f_(f), owned_(owned), writer_([this] { FlushLoop(); }) {}

AccessLog::~AccessLog() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  writer_.join();
  if (owned_) std::fclose(f_);
}

void AccessLog::Write(const AccessEntry& e) {
  std::string line = AccessLine(e);
  line.push_back('\n');
  bool flush;
  {
    std::lock_guard<std::mutex> l(mu_);
    pending_.append(line);
    flush = pending_.size() >= kFlushBytes;
  }
  if (flush) cv_.notify_one();
}

void AccessLog::FlushLoop() {
  std::string out;
  std::unique_lock<std::mutex> l(mu_);
  while (true) {
    cv_.wait_for(l, kFlushEvery, [this] { return stop_ || pending_.size() >= kFlushBytes; });
    out.swap(pending_);
    bool stop = stop_;
    l.unlock();
    if (!out.empty()) {
      std::fwrite(out.data(), 1, out.size(), f_);
      std::fflush(f_);
      out.clear();
    }
    l.lock();
    if (stop && pending_.empty()) return;
  }
}

}  // namespace warden::gateway
