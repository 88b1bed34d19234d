// `warden node`: the node agent.
#include <csignal>
#include <iostream>

#include <boost/program_options.hpp>

#include "agent/cli/commands.h"
#include "agent/cli/flags.h"
#include "agent/common/netns.h"
#include "agent/node/node_agent.h"

namespace warden::cli {

namespace po = boost::program_options;

namespace {
std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }
}  // namespace

int RunNode(const std::vector<std::string>& args) {
  node::NodeAgentOptions o;
  std::string pool = "default", unknown;
  std::vector<std::string> allow, cluster;
  std::string netns;
  po::options_description desc(
      "warden node: enforce NetworkPolicy and node-pool lockdown on one node with cgroup "
      "BPF\n\noptions");
  desc.add_options()("help,h", "show this help")(
      "netns", po::value(&netns), "join this network namespace first (/var/run/netns/NAME)")(
      "node", po::value(&o.node),
      "this node's name (pods with spec.nodeName equal to it are local)")(
      "manifests", po::value(&o.manifests), "directory of Kubernetes manifests, re-read on change")(
      "cgroup-root", po::value(&o.cgroup_root),
      "the node's cgroup v2 directory (programs attach here)")(
      "bpffs", po::value(&o.bpffs), "per-node bpffs directory for pinned maps and links")(
      "pool", po::value(&pool)->default_value("default"),
      "node pool: default (no direct egress) or gateway")(
      "unknown-pod", po::value(&unknown),
      "deny or allow traffic of pods Warden does not know (default: deny)")(
      "allow-world", po::value(&allow)->composing(),
      "a world destination a default-pool node may reach directly: "
      "CIDR[:PORT[-END]][/TCP|UDP|SCTP] (repeatable)")(
      "cluster-cidr", po::value(&cluster)->composing(),
      "an address range inside the cluster besides podCIDRs (repeatable)")(
      "gateway-namespace", po::value(&o.gateway_namespace)->default_value("warden-egress"),
      "namespace whose pods are egress gateways")("log", po::value(&o.log_path)->default_value("-"),
                                                  "verdict log file (JSON lines); - for stdout")(
      "metrics", po::value(&o.metrics_address), "serve Prometheus /metrics on HOST:PORT")(
      "interval-ms", po::value(&o.interval_ms)->default_value(100), "reconcile interval")(
      "control", po::value(&o.control),
      "get the node's state from warden control at HOST:PORT (instead of --manifests)")(
      "tls-cert", po::value(&o.tls_cert),
      "this node's certificate (PEM; a DNS SAN names the node)")("tls-key", po::value(&o.tls_key),
                                                                 "its private key (PEM)")(
      "tls-ca", po::value(&o.tls_ca), "the CA that signed the control plane's certificate (PEM)")(
      "tls-server-name", po::value(&o.tls_server_name),
      "the name to expect in the control plane's certificate")(
      "state-dir", po::value(&o.state_dir),
      "keep the last applied control-plane state here (restart without it)");
  po::variables_map vm;
  if (auto done = ParseFlags("node", desc, args, &vm)) return *done;
  auto fail = [](const std::string& m) {
    std::cerr << "warden node: " << m << "\n";
    return 2;
  };
  if (!netns.empty()) {
    if (auto st = common::EnterNetns(netns); !st.ok())
      return fail("--netns: " + std::string(st.message()));
  }
  if (pool == "default") {
    o.pool = WD_POOL_DEFAULT;
  } else if (pool == "gateway") {
    o.pool = WD_POOL_GATEWAY;
  } else {
    return fail("--pool must be default or gateway, not \"" + pool + "\"");
  }
  if (unknown.empty() || unknown == "deny") {
    o.unknown_pod = WD_UNKNOWN_POD_DENY;
  } else if (unknown == "allow") {
    o.unknown_pod = WD_UNKNOWN_POD_ALLOW;
  } else {
    return fail("--unknown-pod must be deny or allow, not \"" + unknown + "\"");
  }
  if (auto st = ParseWorldFlags(allow, cluster, &o); !st.ok()) {
    return fail(std::string(st.message()));
  }
  if (o.interval_ms < 10 || o.interval_ms > 60000) return fail("--interval-ms must be 10..60000");
  auto agent = node::NodeAgent::Create(o);
  if (!agent.ok()) return fail(std::string(agent.status().message()));
  if (auto st = (*agent)->Start(); !st.ok()) return fail(std::string(st.message()));
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  (*agent)->Run(g_stop);
  std::cerr << "warden node " << o.node << ": stopping; programs stay attached and pinned under "
            << o.bpffs << "\n";
  return 0;
}

}  // namespace warden::cli
