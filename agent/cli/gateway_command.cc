// `warden gateway`: the egress gateway. Its state comes from the control plane over Sync (role
// gateway) or, standalone, from a manifests directory it watches.
#include <csignal>
#include <iostream>

#include <boost/program_options.hpp>

#include "agent/cli/commands.h"
#include "agent/cli/egress_options.h"
#include "agent/cli/flags.h"
#include "agent/common/dir_watch.h"
#include "agent/common/netns.h"
#include "agent/gateway/gateway.h"
#include "agent/policy/manifest_loader.h"

namespace warden::cli {

namespace po = boost::program_options;

namespace {
std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

// The gateway's state from the manifests in `dir`; an error (the last good state stays in force)
// when any file fails.
absl::StatusOr<std::shared_ptr<const gateway::CompiledGateway>> FromManifests(
    const std::string& dir, const egress::GatewayOptions& o) {
  policy::LoadResult loaded = policy::LoadManifestDir(dir);
  if (!loaded.errors.empty()) {
    std::string all;
    for (const auto& e : loaded.errors) all += "\n  " + e.ToString();
    return absl::InvalidArgumentError("the manifests have errors; the state in force stays:" + all);
  }
  nodestate::GatewayScope scope{o.gateway_namespace, o.root_namespace};
  return std::make_shared<const gateway::CompiledGateway>(
      nodestate::GatewayStateOf(loaded.state, scope), o);
}

}  // namespace

int RunGateway(const std::vector<std::string>& args) {
  gateway::GatewayProcessOptions o;
  std::string netns, log_level = "info", manifests, gateway_port;
  int connect_ms = 5000, response_ms = 15000, idle_ms = 60000, drain_ms = 5000;
  po::options_description desc(
      "warden gateway: the egress gateway. Admits flows from node forwarders (mutual TLS), "
      "authorizes each request by attested identity, host and path (Istio's "
      "AuthorizationPolicy), connects upstream (TLS originated per DestinationRule), logs every "
      "request\n\noptions");
  auto add = desc.add_options();
  add("help,h", "show this help");
  add("netns", po::value(&netns), "join this network namespace first (/var/run/netns/NAME)");
  add("node", po::value(&o.control.node), "this gateway's node (its certificate names it)");
  add("control", po::value(&o.control.address), "warden control's Sync address (HOST:PORT)");
  add("manifests", po::value(&manifests),
      "standalone: take the state from this manifests directory (watched) instead of --control");
  add("tls-cert", po::value(&o.control.cert),
      "this node's certificate (PEM): presented to forwarders and to the control plane");
  add("tls-key", po::value(&o.control.key), "its private key (PEM)");
  add("tls-ca", po::value(&o.control.ca),
      "the control plane's CA (PEM): node certificates and the control plane are verified with it");
  add("client-ca", po::value(&o.client_cas)->composing(),
      "another CA forwarders' certificates may come from (PEM; repeatable): the cluster's, "
      "whose kubelet certificates (O=system:nodes, CN=system:node:NAME) name their nodes");
  add("tls-server-name", po::value(&o.control.server_name),
      "the name the control plane's certificate must carry (default: the host of --control)");
  add("listen", po::value(&o.listen)->default_value("0.0.0.0:15443"),
      "the mutual-TLS address forwarders connect to");
  add("metrics", po::value(&o.metrics), "serve Prometheus /metrics and /ready on HOST:PORT");
  add("access-log", po::value(&o.access_log)->default_value("-"),
      "file the JSON-lines access log is appended to (- = standard output)");
  add("upstream-ca", po::value(&o.upstream_ca),
      "CA bundle upstream servers are verified with when a DestinationRule names none "
      "(default: the system's)");
  add("workers", po::value(&o.workers)->default_value(0),
      "threads serving flows (0: one per CPU the process may run on)");
  add("connect-timeout-ms", po::value(&connect_ms)->default_value(5000),
      "upstream connect timeout");
  add("response-timeout-ms", po::value(&response_ms)->default_value(15000),
      "upstream response header timeout (then 504)");
  add("idle-timeout-ms", po::value(&idle_ms)->default_value(60000),
      "a pod connection idle between requests this long is closed");
  add("state-dir", po::value(&o.state_dir),
      "keep the state in force here (gateway.state): a restart decides on it until the control "
      "plane answers");
  add("drain-timeout-ms", po::value(&drain_ms)->default_value(5000),
      "on SIGTERM: how long requests under way may take to finish (idle connections close at "
      "once, nothing new is accepted); then the rest is cut");
  add("gateway-namespace", po::value(&o.gateway.gateway_namespace)->default_value("warden-egress"),
      "namespace whose pods are egress gateways");
  AddGatewayOptions(add, &o.gateway, &gateway_port);
  add("log-level", po::value(&log_level)->default_value("info"),
      "debug, info, warning or error (messages on stderr)");
  po::variables_map vm;
  if (auto done = ParseFlags("gateway", desc, args, &vm)) return *done;
  auto fail = [](const std::string& m) { return BadInput("gateway", m); };
  if (auto st = ApplyLogLevel(log_level); !st.ok()) return fail(std::string(st.message()));
  if (!netns.empty()) {
    if (auto st = common::EnterNetns(netns); !st.ok())
      return fail("--netns: " + std::string(st.message()));
  }
  if (o.control.cert.empty() || o.control.key.empty() || o.control.ca.empty())
    return fail("--tls-cert, --tls-key and --tls-ca are required (plaintext is refused)");
  if (manifests.empty() == o.control.address.empty())
    return fail("exactly one of --control and --manifests is required");
  if (!o.control.address.empty() && o.control.node.empty())
    return fail("--node is required with --control");
  for (int ms : {connect_ms, response_ms, idle_ms})
    if (ms <= 0) return fail("timeouts must be positive");
  if (drain_ms < 0) return fail("--drain-timeout-ms must not be negative");
  o.drain = std::chrono::milliseconds(drain_ms);
  o.upstream.connect = std::chrono::milliseconds(connect_ms);
  o.limits.upstream_response = std::chrono::milliseconds(response_ms);
  o.limits.idle = std::chrono::milliseconds(idle_ms);

  std::optional<common::DirWatch> watch;
  std::shared_ptr<const gateway::CompiledGateway> initial;
  if (!manifests.empty()) {
    auto w = common::DirWatch::Open(manifests);
    if (!w.ok()) return fail("--manifests: " + std::string(w.status().message()));
    watch.emplace(std::move(*w));
    auto s = FromManifests(manifests, o.gateway);
    if (!s.ok()) return fail(std::string(s.status().message()));
    initial = *s;
  }
  auto gw = gateway::Gateway::Start(o);
  if (!gw.ok()) return fail(std::string(gw.status().message()));
  common::Logger log("warden gateway");
  if (initial) (*gw)->SetState(initial);
  log.Info("serving flows on port ", (*gw)->port(),
           (*gw)->metrics_port() ? absl::StrCat(", metrics on port ", (*gw)->metrics_port()) : "");
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  while (!g_stop) {
    if (!watch) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    if (!watch->Wait(1000)) continue;
    auto s = FromManifests(manifests, o.gateway);
    if (!s.ok()) {
      log.Warning(s.status().message());
      continue;
    }
    (*gw)->SetState(*s);
    log.Info("manifests reloaded");
  }
  return 0;
}

}  // namespace warden::cli
