#include "agent/gateway/metrics.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace warden::gateway {
namespace {

std::string Escape(const std::string& v) {
  if (v.find_first_of("\\\"\n") == std::string::npos) return v;  // the common case: as is
  return absl::StrReplaceAll(v, {{"\\", "\\\\"}, {"\"", "\\\""}, {"\n", "\\n"}});
}

std::string Label(absl::string_view k, const std::string& v) {
  return absl::StrCat(k, "=\"", Escape(v.empty() ? "unknown" : v), "\"");
}

// Istio's labels for a request or connection that left through this gateway.
std::string Labels(const AccessEntry& e, const std::string& app, bool http) {
  std::string host = e.authority.empty() ? e.requested_server_name : e.authority;
  std::string l = absl::StrCat(
      Label("reporter", "source"), ",", Label("source_workload", e.source_pod), ",",
      Label("source_workload_namespace", e.source_namespace), ",",
      Label("source_principal", e.source_principal.empty() ? "" : "spiffe://" + e.source_principal),
      ",", Label("source_app", app), ",", Label("destination_service", host), ",",
      Label("destination_service_name", host), ",",
      // The registering ServiceEntry's namespace, as Istio's registry gives it ("unknown" for a
      // host none registered).
      Label("destination_service_namespace", e.service_namespace), ",",
      Label("request_protocol", http ? "http" : "tcp"), ",",
      Label("connection_security_policy", "mutual_tls"));
  if (http) {
    absl::StrAppend(
        &l, ",", Label("response_code", e.response_code ? absl::StrCat(*e.response_code) : "0"),
        ",", Label("response_flags", e.response_flags), ",", Label("grpc_response_status", ""));
  } else {
    absl::StrAppend(&l, ",", Label("response_flags", e.response_flags));
  }
  return l;
}

}  // namespace

void Metrics::Histogram::Add(double v) {
  size_t i = 0;
  while (i < kBuckets.size() && v > kBuckets[i]) ++i;
  ++counts[i];
  sum += v;
  ++count;
}

void Metrics::Observe(const AccessEntry& e, const std::string& app) {
  const bool http = e.protocol.rfind("HTTP", 0) == 0;
  // Every value a label is made of, separated by a byte none of them can hold.
  const std::string raw =
      absl::StrCat(http ? "h" : "t", absl::string_view("\0", 1), e.source_pod,
                   absl::string_view("\0", 1), e.source_namespace, absl::string_view("\0", 1),
                   e.source_principal, absl::string_view("\0", 1), e.service_namespace,
                   absl::string_view("\0", 1), app, absl::string_view("\0", 1), e.authority,
                   absl::string_view("\0", 1), e.requested_server_name, absl::string_view("\0", 1),
                   e.response_code.value_or(0), absl::string_view("\0", 1), e.response_flags);
  std::lock_guard<std::mutex> l(mu_);
  if (http) {
    HttpSeries*& found = http_raw_[raw];
    if (!found) found = &http_[Labels(e, app, true)];
    HttpSeries& s = *found;
    ++s.requests;
    s.duration.Add(static_cast<double>(e.duration_ms));
    s.request_bytes.Add(static_cast<double>(e.bytes_received));
    s.response_bytes.Add(static_cast<double>(e.bytes_sent));
  } else {
    TcpSeries*& found = tcp_raw_[raw];
    if (!found) found = &tcp_[Labels(e, app, false)];
    TcpSeries& s = *found;
    ++s.opened;
    ++s.closed;
    s.received += e.bytes_received;
    s.sent += e.bytes_sent;
  }
}

void Metrics::Refused(const std::string& reason) {
  std::lock_guard<std::mutex> l(mu_);
  ++refused_[reason];
}

std::string Metrics::Text(uint64_t version, bool ready) const {
  std::string out;
  auto histogram = [&out](absl::string_view name, const std::string& labels, const Histogram& h) {
    uint64_t cumulative = 0;
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      cumulative += h.counts[i];
      absl::StrAppend(&out, name, "_bucket{", labels, ",le=\"", kBuckets[i], "\"} ", cumulative,
                      "\n");
    }
    absl::StrAppend(&out, name, "_bucket{", labels, ",le=\"+Inf\"} ", h.count, "\n", name, "_sum{",
                    labels, "} ", h.sum, "\n", name, "_count{", labels, "} ", h.count, "\n");
  };
  std::lock_guard<std::mutex> l(mu_);
  absl::StrAppend(&out, "# TYPE istio_requests_total counter\n");
  for (const auto& [labels, s] : http_)
    absl::StrAppend(&out, "istio_requests_total{", labels, "} ", s.requests, "\n");
  absl::StrAppend(&out, "# TYPE istio_request_duration_milliseconds histogram\n");
  for (const auto& [labels, s] : http_)
    histogram("istio_request_duration_milliseconds", labels, s.duration);
  absl::StrAppend(&out, "# TYPE istio_request_bytes histogram\n");
  for (const auto& [labels, s] : http_) histogram("istio_request_bytes", labels, s.request_bytes);
  absl::StrAppend(&out, "# TYPE istio_response_bytes histogram\n");
  for (const auto& [labels, s] : http_) histogram("istio_response_bytes", labels, s.response_bytes);
  const std::pair<const char*, uint64_t TcpSeries::*> tcp[] = {
      {"istio_tcp_connections_opened_total", &TcpSeries::opened},
      {"istio_tcp_connections_closed_total", &TcpSeries::closed},
      {"istio_tcp_sent_bytes_total", &TcpSeries::sent},
      {"istio_tcp_received_bytes_total", &TcpSeries::received}};
  for (const auto& [name, field] : tcp) {
    absl::StrAppend(&out, "# TYPE ", name, " counter\n");
    for (const auto& [labels, s] : tcp_)
      absl::StrAppend(&out, name, "{", labels, "} ", s.*field, "\n");
  }
  absl::StrAppend(&out, "# TYPE warden_gateway_flows_refused_total counter\n");
  for (const auto& [reason, n] : refused_)
    absl::StrAppend(&out, "warden_gateway_flows_refused_total{reason=\"", Escape(reason), "\"} ", n,
                    "\n");
  absl::StrAppend(&out, "# TYPE warden_gateway_downstream_connections gauge\n",
                  "warden_gateway_downstream_connections ", downstream_open_.load(), "\n",
                  "# TYPE warden_gateway_state_version gauge\nwarden_gateway_state_version ",
                  version, "\n# TYPE warden_gateway_ready gauge\nwarden_gateway_ready ",
                  ready ? 1 : 0, "\n");
  return out;
}

}  // namespace warden::gateway
