// The gateway's Prometheus metrics: Istio's standard request and TCP metrics with their labels
// (reporter="source", as an egress gateway reports), so dashboards built for Istio read them,
// and Warden's own counters of refused flows and the state in force.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

#include "agent/gateway/access_log.h"

namespace warden::gateway {

class Metrics {
 public:
  // One finished HTTP request (istio_requests_total, _duration_milliseconds, _request_bytes,
  // _response_bytes) or TCP/TLS connection (istio_tcp_*), from its access-log entry; `app` is
  // the source pod's app label ("" when none).
  void Observe(const AccessEntry& e, const std::string& app);
  // A flow refused before it had a source (bad certificate, header, or pod on another node).
  void Refused(const std::string& reason);
  void ConnectionOpened() { ++downstream_open_; }
  void ConnectionClosed() { --downstream_open_; }

  std::string Text(uint64_t version, bool ready) const;

 private:
  static constexpr std::array<double, 19> kBuckets = {
      0.5,  1,    5,     10,    25,    50,     100,    250,     500,    1000,
      2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000};
  struct Histogram {
    std::array<uint64_t, kBuckets.size() + 1> counts{};
    double sum = 0;
    uint64_t count = 0;
    void Add(double v);
  };
  struct HttpSeries {
    uint64_t requests = 0;
    Histogram duration, request_bytes, response_bytes;
  };
  struct TcpSeries {
    uint64_t opened = 0, closed = 0, sent = 0, received = 0;
  };

  mutable std::mutex mu_;
  std::map<std::string, HttpSeries> http_;  // by label set, rendered
  std::map<std::string, TcpSeries> tcp_;
  // The same series by the raw values their labels are made of: a request finds its series
  // without rendering (and escaping) fourteen labels.
  std::unordered_map<std::string, HttpSeries*> http_raw_;
  std::unordered_map<std::string, TcpSeries*> tcp_raw_;
  std::map<std::string, uint64_t> refused_;
  std::atomic<int64_t> downstream_open_{0};
};

}  // namespace warden::gateway
