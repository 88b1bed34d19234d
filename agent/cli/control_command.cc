// `warden control`: the control plane. Watches the manifests directory, compiles it, and pushes
// each node its state over Sync (mutual TLS).
#include <csignal>
#include <iostream>

#include <boost/program_options.hpp>

#include "agent/cli/commands.h"
#include "agent/cli/flags.h"
#include "agent/common/dir_watch.h"
#include "agent/common/heap_tuning.h"
#include "agent/common/http_server.h"
#include "agent/common/netns.h"
#include "agent/control/control_plane.h"
#include "agent/control/sync_server.h"

namespace warden::cli {

namespace po = boost::program_options;

namespace {
std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }
}  // namespace

int RunControl(const std::vector<std::string>& args) {
  control::ControlPlaneOptions o;
  nodestate::PipelineOptions& p = o.pipeline;
  control::TlsFiles tls;
  std::string listen = "0.0.0.0:9443", metrics, log_level = "info";
  std::vector<std::string> cluster, allow;
  std::string netns;
  po::options_description desc(
      "warden control: compile the manifests and push each node its state over Sync\n\noptions");
  desc.add_options()("help,h", "show this help")(
      "netns", po::value(&netns), "join this network namespace first (/var/run/netns/NAME)")(
      "manifests", po::value(&p.manifests),
      "directory of Kubernetes manifests (watched with inotify)")(
      "listen", po::value(&listen)->default_value("0.0.0.0:9443"),
      "Sync (gRPC over mutual TLS) address")("tls-cert", po::value(&tls.cert),
                                             "the control plane's certificate (PEM)")(
      "tls-key", po::value(&tls.key), "its private key (PEM)")(
      "client-ca", po::value(&tls.ca),
      "CA of the node certificates (PEM); a node's DNS SAN names it")(
      "metrics", po::value(&metrics), "serve Prometheus /metrics on HOST:PORT")(
      "cluster-cidr", po::value(&cluster)->composing(),
      "an address range inside the cluster besides podCIDRs")(
      "allow-world", po::value(&allow)->composing(),
      "a world destination default-pool nodes may reach directly: "
      "CIDR[:PORT[-END]][/TCP|UDP|SCTP]")(
      "gateway-namespace",
      po::value(&p.node_states.gateway_namespace)->default_value("warden-egress"),
      "namespace whose pods are egress gateways")(
      "log-level", po::value(&log_level)->default_value("info"),
      "debug, info, warning or error (messages on stderr)");
  po::variables_map vm;
  if (auto done = ParseFlags("control", desc, args, &vm)) return *done;
  auto fail = [](const std::string& m) { return BadInput("control", m); };
  if (auto st = ApplyLogLevel(log_level); !st.ok()) return fail(std::string(st.message()));
  if (!netns.empty()) {
    if (auto st = common::EnterNetns(netns); !st.ok())
      return fail("--netns: " + std::string(st.message()));
  }
  if (p.manifests.empty()) return fail("--manifests DIR is required");
  if (tls.cert.empty() || tls.key.empty() || tls.ca.empty()) {
    return fail("--tls-cert, --tls-key and --client-ca are required (plaintext is refused)");
  }
  if (auto st = ParseWorldFlags(allow, cluster, &p.node_states.allowances, &p.cluster_cidrs);
      !st.ok()) {
    return fail(std::string(st.message()));
  }
  auto watch = common::DirWatch::Open(p.manifests);
  if (!watch.ok()) return fail("--manifests: " + std::string(watch.status().message()));
  control::ControlPlane cp(o);
  cp.Refresh(true);
  common::KeepFreedHeap();  // the start's parse peak goes back; what changes free is kept
  auto server = control::SyncServer::Start(&cp, listen, tls);
  if (!server.ok()) return fail(std::string(server.status().message()));
  common::Logger("warden control").Info("serving Sync on port ", (*server)->port());
  std::unique_ptr<common::HttpServer> http;
  if (!metrics.empty()) {
    auto h = common::HttpServer::Start(metrics, [&](const std::string& path) {
      if (path != "/metrics") return common::HttpResponse{404, "text/plain", "not found\n"};
      return common::HttpResponse{200, "text/plain; version=0.0.4", (*server)->RenderMetrics()};
    });
    if (!h.ok()) return fail(std::string(h.status().message()));
    http = std::move(*h);
  }
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  while (!g_stop) {
    // inotify says when to look; a slow poll covers what it cannot see (e.g. a remount).
    watch->Wait(1000);
    cp.Refresh();
  }
  return 0;
}

}  // namespace warden::cli
