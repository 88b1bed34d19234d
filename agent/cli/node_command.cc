// `warden node`: the node agent.
#include <csignal>
#include <iostream>

#include <boost/program_options.hpp>

#include "agent/cli/commands.h"
#include "agent/cli/flags.h"
#include "agent/common/netns.h"
#include "agent/node/manifests_source.h"
#include "agent/node/node_agent.h"
#include "agent/node/sync_source.h"

namespace warden::cli {

namespace po = boost::program_options;

namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

struct NodeFlags {
  node::NodeAgentOptions agent;
  std::string pool = "default", unknown, netns, log_level = "info";
  std::vector<std::string> allow, cluster;
  nodestate::PipelineOptions manifests;  // with --manifests
  node::SyncClientOptions control;       // with --control
  std::string state_dir;
};

po::options_description Describe(NodeFlags* f) {
  po::options_description desc(
      "warden node: enforce NetworkPolicy and node-pool lockdown on one node with cgroup "
      "BPF\n\noptions");
  auto add = desc.add_options();
  add("help,h", "show this help");
  add("netns", po::value(&f->netns), "join this network namespace first (/var/run/netns/NAME)");
  add("node", po::value(&f->agent.node),
      "this node's name (pods with spec.nodeName equal to it are local)");
  add("manifests", po::value(&f->manifests.manifests),
      "directory of Kubernetes manifests, re-read on change");
  add("cgroup-root", po::value(&f->agent.cgroup_root),
      "the node's cgroup v2 directory (programs attach here)");
  add("bpffs", po::value(&f->agent.bpffs), "per-node bpffs directory for pinned maps and links");
  add("pool", po::value(&f->pool)->default_value("default"),
      "node pool until the first desired state: default (no direct egress) or gateway; "
      "afterwards the Node's cloud.google.com/gke-nodepool label decides");
  add("unknown-pod", po::value(&f->unknown),
      "deny or allow traffic of pods Warden does not know (default: deny)");
  add("allow-world", po::value(&f->allow)->composing(),
      "a world destination a default-pool node may reach directly: "
      "CIDR[:PORT[-END]][/TCP|UDP|SCTP] (repeatable)");
  add("cluster-cidr", po::value(&f->cluster)->composing(),
      "an address range inside the cluster besides podCIDRs (repeatable)");
  add("gateway-namespace",
      po::value(&f->manifests.node_states.gateway_namespace)->default_value("warden-egress"),
      "namespace whose pods are egress gateways");
  add("log", po::value(&f->agent.log_path)->default_value("-"),
      "verdict log file (JSON lines); - for stdout");
  add("log-level", po::value(&f->log_level)->default_value("info"),
      "debug, info, warning or error (the agent's own messages, on stderr)");
  add("metrics", po::value(&f->agent.metrics_address), "serve Prometheus /metrics on HOST:PORT");
  add("interval-ms", po::value(&f->agent.interval_ms)->default_value(100), "reconcile interval");
  add("control", po::value(&f->control.address),
      "get the node's state from warden control at HOST:PORT (instead of --manifests)");
  add("tls-cert", po::value(&f->control.cert),
      "this node's certificate (PEM; a DNS SAN names the node)");
  add("tls-key", po::value(&f->control.key), "its private key (PEM)");
  add("tls-ca", po::value(&f->control.ca),
      "the CA that signed the control plane's certificate (PEM)");
  add("tls-server-name", po::value(&f->control.server_name),
      "the name to expect in the control plane's certificate");
  add("state-dir", po::value(&f->state_dir),
      "keep the last applied control-plane state here (restart without it)");
  return desc;
}

// The agent's options and its source of desired state, from the flags.
absl::StatusOr<std::unique_ptr<node::DesiredStateSource>> Configure(NodeFlags* f) {
  if (f->pool != "default" && f->pool != "gateway")
    return absl::InvalidArgumentError("--pool must be default or gateway, not \"" + f->pool + "\"");
  f->agent.pool = f->pool == "gateway" ? WD_POOL_GATEWAY : WD_POOL_DEFAULT;
  if (!f->unknown.empty() && f->unknown != "deny" && f->unknown != "allow") {
    return absl::InvalidArgumentError("--unknown-pod must be deny or allow, not \"" + f->unknown +
                                      "\"");
  }
  f->agent.unknown_pod = f->unknown == "allow" ? WD_UNKNOWN_POD_ALLOW : WD_UNKNOWN_POD_DENY;
  WD_RETURN_IF_ERROR(
      ParseWorldFlags(f->allow, f->cluster, &f->agent.allowances, &f->manifests.cluster_cidrs));
  if (f->agent.interval_ms < 10 || f->agent.interval_ms > 60000)
    return absl::InvalidArgumentError("--interval-ms must be 10..60000");
  if (f->agent.node.empty()) return absl::InvalidArgumentError("--node is required");
  if (f->manifests.manifests.empty() == f->control.address.empty())
    return absl::InvalidArgumentError("give either --manifests DIR or --control ADDR");
  if (!f->manifests.manifests.empty()) {
    f->manifests.node_states.allowances = f->agent.allowances;
    return std::make_unique<node::ManifestsSource>(f->agent.node, f->manifests);
  }
  f->control.node = f->agent.node;
  WD_ASSIGN_OR_RETURN(std::unique_ptr<node::SyncSource> sync,
                      node::SyncSource::Create(f->control, f->state_dir));
  return sync;
}

}  // namespace

int RunNode(const std::vector<std::string>& args) {
  NodeFlags f;
  po::options_description desc = Describe(&f);
  po::variables_map vm;
  if (auto done = ParseFlags("node", desc, args, &vm)) return *done;
  auto fail = [](const absl::Status& st) { return CommandFailed("node", st); };
  if (auto st = ApplyLogLevel(f.log_level); !st.ok()) return fail(st);
  if (!f.netns.empty()) {
    if (auto st = common::EnterNetns(f.netns); !st.ok())
      return fail(absl::InvalidArgumentError("--netns: " + std::string(st.message())));
  }
  auto source = Configure(&f);
  if (!source.ok()) return fail(source.status());
  auto agent = node::NodeAgent::Create(f.agent, std::move(*source));
  if (!agent.ok()) return fail(agent.status());
  if (auto st = (*agent)->Start(); !st.ok()) return fail(st);
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  (*agent)->Run(g_stop);
  common::Logger("warden node " + f.agent.node)
      .Info("stopping; programs stay attached and pinned under ", f.agent.bpffs);
  return 0;
}

}  // namespace warden::cli
