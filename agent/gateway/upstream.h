// Where and how the gateway connects upstream for an authorized request or flow, and the pool of
// upstream connections it keeps open between requests. A pooled connection is reused only for
// the same key (host, port, TLS mode, SNI, names verified, CA and client certificate): a
// connection verified for one name is never used for another.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/egress/gateway_config.h"
#include "agent/gateway/ring.h"
#include "agent/gateway/stream.h"
#include "agent/gateway/task.h"
#include "agent/gateway/tls.h"
#include "agent/policy/ip.h"

namespace warden::gateway {

struct UpstreamTarget {
  std::string host;  // resolved by the gateway (a name), or an address literal
  uint16_t port = 0;
  bool tls = false;  // originate TLS (DestinationRule SIMPLE or MUTUAL)
  std::string sni;
  std::vector<std::string> names;  // verified against the server's certificate (any of them)
  UpstreamTlsFiles files;
  std::string cluster;  // Envoy's name for it in logs: outbound|PORT||HOST

  std::string Key() const;
};

// The target of an allowed verdict. `host` is the request's host (Host without port, or the
// SNI), lower-case; `original` the address the pod connected to. ServiceEntry resolution NONE
// goes to the original address; STATIC to an endpoint (chosen by `pick`); DNS to its endpoint
// names, else the host itself; DYNAMIC_DNS to the host. Ports follow the endpoint's port map,
// else the ServicePort's targetPort. TLS is originated only when `http` (passthrough never).
absl::StatusOr<UpstreamTarget> TargetFor(const egress::GatewayVerdict& v, const std::string& host,
                                         const policy::IpAddress& original, bool http,
                                         uint64_t pick);

// Why a connection could not be made, as Envoy flags it.
struct UpstreamFailure {
  std::string flag;    // "DF" (name not resolved), "UF" (connect or TLS failed), "UT" (timed out)
  std::string reason;  // the upstream_transport_failure_reason / details
};

class UpstreamConn {
 public:
  UpstreamConn(std::string key, std::unique_ptr<Stream> stream, bool tls);

  const std::string& key() const { return key_; }
  bool is_tls() const { return tls_; }
  Stream& stream() { return *stream_; }
  std::string remote() const { return remote_; }
  std::string local() const { return local_; }
  // Whether an idle connection can still carry a request: not closed by the server, nothing
  // unexpected waiting to be read.
  bool StillUsable();

  Clock::time_point idle_since;

 private:
  std::string key_;
  std::unique_ptr<Stream> stream_;
  bool tls_;
  std::string remote_, local_;
};

struct UpstreamTimeouts {
  std::chrono::milliseconds connect{5000};
  std::chrono::milliseconds idle{30000};  // a pooled connection unused this long is closed
  size_t max_idle_per_key = 32;
};

// One worker's pool (a worker's connections are used by its thread only: no locks).
class UpstreamPool {
 public:
  UpstreamPool(Ring* ring, UpstreamContexts* contexts, UpstreamTimeouts t)
      : ring_(ring), contexts_(contexts), t_(t) {}

  // A pooled connection for `t`, or a new one; null on failure (`failure` says why).
  Task<std::unique_ptr<UpstreamConn>> Connect(const UpstreamTarget& t, UpstreamFailure* failure,
                                              bool* reused);
  // A new connection, never pooled (a passed-through flow is the pod's own session).
  Task<std::unique_ptr<UpstreamConn>> Dial(const UpstreamTarget& t, UpstreamFailure* failure);
  // Closes every idle connection (the worker is stopping).
  void Clear() { idle_.clear(); }
  // A connection that finished a request cleanly and may carry another.
  void Put(std::unique_ptr<UpstreamConn> c);

  uint64_t created() const { return created_; }
  uint64_t reused() const { return reused_; }

 private:
  std::unique_ptr<UpstreamConn> Take(const std::string& key);

  Ring* ring_;
  UpstreamContexts* contexts_;
  UpstreamTimeouts t_;
  std::map<std::string, std::vector<std::unique_ptr<UpstreamConn>>> idle_;
  uint64_t created_ = 0, reused_ = 0;
};

}  // namespace warden::gateway
