// `warden node`: the node agent.
#include <csignal>
#include <cstdlib>
#include <iostream>

#include <boost/program_options.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "agent/cli/commands.h"
#include "agent/cli/flags.h"
#include "agent/common/capabilities.h"
#include "agent/common/netns.h"
#include "agent/datapath/kernel_support.h"
#include "agent/forwarder/forwarder.h"
#include "agent/node/manifests_source.h"
#include "agent/node/node_agent.h"
#include "agent/node/required_capabilities.h"
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
  std::string forwarder_listen, forwarder_ports = "80,443";
  int forwarder_connect_timeout_ms = 1000;
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
  add("forwarder-listen", po::value(&f->forwarder_listen),
      "run the node forwarder on IPV4:PORT (an address of the node its pods reach): on a "
      "default-pool node, pods' world-bound TCP connects on --forwarder-ports go there when their "
      "policy admits the egress gateway, and on to a gateway over mutual TLS (--tls-cert, "
      "--tls-key, --tls-ca); without it such connects are refused");
  add("forwarder-ports", po::value(&f->forwarder_ports)->default_value("80,443"),
      "the world ports the forwarder takes (comma-separated, at most 4)");
  add("forwarder-connect-timeout-ms",
      po::value(&f->forwarder_connect_timeout_ms)->default_value(1000),
      "a gateway that does not complete TCP and TLS in this time is skipped for the next");
  return desc;
}

// --forwarder-*: where the programs send pods' world-bound connects, on which ports.
absl::Status ParseForwarderFlags(NodeFlags* f) {
  if (f->forwarder_listen.empty()) return absl::OkStatus();
  const std::string& l = f->forwarder_listen;
  size_t colon = l.rfind(':');
  uint32_t port = 0;
  auto ip = colon == std::string::npos ? absl::InvalidArgumentError("no port")
                                       : policy::ParseIp(l.substr(0, colon));
  if (!ip.ok() || ip->family != policy::Family::kV4 ||
      !absl::SimpleAtoi(l.substr(colon + 1), &port) || port == 0 || port > 65535)
    return absl::InvalidArgumentError("--forwarder-listen must be IPV4:PORT, not \"" + l + "\"");
  std::copy(ip->bytes.begin(), ip->bytes.begin() + 4, f->agent.forwarding.addr.begin());
  f->agent.forwarding.port = static_cast<uint16_t>(port);
  f->agent.forwarding.world_ports.clear();
  for (absl::string_view p : absl::StrSplit(f->forwarder_ports, ',', absl::SkipEmpty())) {
    uint32_t n = 0;
    if (!absl::SimpleAtoi(p, &n) || n == 0 || n > 65535)
      return absl::InvalidArgumentError("--forwarder-ports: \"" + std::string(p) +
                                        "\" is not a port");
    f->agent.forwarding.world_ports.push_back(static_cast<uint16_t>(n));
  }
  if (f->agent.forwarding.world_ports.empty() ||
      f->agent.forwarding.world_ports.size() > WD_FWD_PORTS)
    return absl::InvalidArgumentError("--forwarder-ports: 1 to 4 ports");
  if (f->forwarder_connect_timeout_ms < 10 || f->forwarder_connect_timeout_ms > 60000)
    return absl::InvalidArgumentError("--forwarder-connect-timeout-ms must be 10..60000");
  if (f->control.cert.empty() || f->control.key.empty() || f->control.ca.empty())
    return absl::InvalidArgumentError(
        "--forwarder-listen needs the node's certificate: --tls-cert, --tls-key, --tls-ca");
  return absl::OkStatus();
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
  WD_RETURN_IF_ERROR(ParseForwarderFlags(f));
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
  // Capabilities first: without one the agent would fail later, halfway through loading, with
  // an errno that does not say which (required_capabilities.h).
  absl::StatusOr<common::CapabilitySet> caps = common::OwnEffectiveCapabilities();
  if (!caps.ok()) return fail(caps.status());
  // tests/e2e/agent_capabilities_test.cc skips the check once per capability, to show that the
  // kernel does refuse the agent without it (and that the refusal names it too).
  const bool check = std::getenv("WARDEN_NODE_SKIP_CAPABILITY_CHECK") == nullptr;
  if (auto st = node::CheckCapabilities(*caps, !f.netns.empty()); check && !st.ok())
    return fail(st);
  if (std::string less = node::MissingOptionalCapabilities(*caps); !less.empty())
    common::Logger("warden node " + f.agent.node).Warning(less);
  // Then the kernel: one message naming what it lacks, before anything is loaded.
  absl::StatusOr<datapath::KernelSupport> kernel = datapath::CheckKernel();
  if (!kernel.ok()) return fail(kernel.status());
  if (!kernel->tcx)
    common::Logger("warden node " + f.agent.node)
        .Warning(
            "no tcx in this kernel (Linux 6.6 or later): the programs on pods' interfaces "
            "are attached as clsact filters");
  if (!f.netns.empty()) {
    if (auto st = common::EnterNetns(f.netns); !st.ok())
      return fail(absl::InvalidArgumentError("--netns: " + std::string(st.message())));
  }
  auto source = Configure(&f);
  if (!source.ok()) return fail(source.status());
  // The forwarder's view of the node follows every state the agent puts in force; its metrics
  // join the agent's.
  auto view = std::make_shared<forwarder::NodeView>();
  auto metrics_of = std::make_shared<std::atomic<forwarder::Forwarder*>>(nullptr);
  if (!f.forwarder_listen.empty()) {
    f.agent.on_applied = [view](const nodestate::NodeState& s,
                                const absl::flat_hash_map<uint64_t, std::string>& pods) {
      view->Update(s, pods);
    };
    f.agent.extra_metrics = [metrics_of](const std::string& node, std::string* out) {
      if (forwarder::Forwarder* fw = metrics_of->load()) fw->AppendMetrics(node, out);
    };
  }
  // With a forwarder, the programs load in Start(): the forwarder serves before that, from the
  // state the agent has at hand (its saved state, or the manifests), so an agent started again
  // does not leave its pods' world-bound connects, which the programs an earlier agent left
  // attached send to the forwarder's port, refused for the verifier's seconds.
  f.agent.load_in_start = !f.forwarder_listen.empty();
  auto agent = node::NodeAgent::Create(f.agent, std::move(*source));
  if (!agent.ok()) return fail(node::ExplainPermissionError(agent.status()));
  std::unique_ptr<forwarder::Forwarder> fwd;
  if (!f.forwarder_listen.empty()) {
    if (auto st = (*agent)->Preview(); !st.ok()) return fail(st);
    forwarder::ForwarderOptions fo;
    fo.listen = f.forwarder_listen;
    fo.tls = {f.control.cert, f.control.key, f.control.ca};
    fo.node = f.agent.node;
    fo.connect_timeout = std::chrono::milliseconds(f.forwarder_connect_timeout_ms);
    node::NodeAgent* a = agent->get();
    fo.log_line = [a](const std::string& line) { a->LogLine(line); };
    // Listening before the programs send anything here; records are read from the agent's pins.
    auto made = forwarder::Forwarder::Create(std::move(fo), view,
                                             forwarder::DatapathRecords(f.agent.bpffs));
    if (!made.ok()) return fail(made.status());
    fwd = std::move(*made);
    metrics_of->store(fwd.get());
    fwd->Start();
  }
  if (auto st = (*agent)->Start(); !st.ok()) return fail(node::ExplainPermissionError(st));
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  (*agent)->Run(g_stop);
  if (fwd) {
    metrics_of->store(nullptr);
    fwd->Stop();
  }
  common::Logger("warden node " + f.agent.node)
      .Info("stopping; programs stay attached and pinned under ", f.agent.bpffs);
  return 0;
}

}  // namespace warden::cli
