// `warden control`: the control plane. Watches the manifests directory or the Kubernetes API,
// compiles what it reads, and pushes each node its state over Sync (mutual TLS).
#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <thread>

#include <boost/program_options.hpp>

#include "absl/strings/str_join.h"
#include "agent/cli/commands.h"
#include "agent/cli/flags.h"
#include "agent/common/dir_watch.h"
#include "agent/common/heap_tuning.h"
#include "agent/common/http_server.h"
#include "agent/common/netns.h"
#include "agent/control/control_plane.h"
#include "agent/control/sync_server.h"
#include "agent/kube/api_source.h"

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
  std::vector<std::string> cluster, allow, client_cas;
  std::string netns, kubeconfig, kube_context;
  bool kubernetes = false;
  po::options_description desc(
      "warden control: compile the manifests and push each node its state over Sync\n\noptions");
  desc.add_options()("help,h", "show this help")(
      "netns", po::value(&netns), "join this network namespace first (/var/run/netns/NAME)")(
      "manifests", po::value(&p.manifests),
      "directory of Kubernetes manifests (watched with inotify)")(
      "kubernetes", po::bool_switch(&kubernetes),
      "list and watch the Kubernetes API from inside a pod (its service account token and CA)")(
      "kubeconfig", po::value(&kubeconfig),
      "list and watch the Kubernetes API of this kubeconfig file")(
      "kube-context", po::value(&kube_context), "the kubeconfig's context (default: current)")(
      "listen", po::value(&listen)->default_value("0.0.0.0:9443"),
      "Sync (gRPC over mutual TLS) address")("tls-cert", po::value(&tls.cert),
                                             "the control plane's certificate (PEM)")(
      "tls-key", po::value(&tls.key), "its private key (PEM)")(
      "client-ca", po::value(&client_cas)->composing(),
      "a CA of the clients' certificates (PEM; repeatable): Warden's own, whose certificates name "
      "a node by DNS SAN, and the cluster's, whose kubelet certificates (O=system:nodes, "
      "CN=system:node:NAME) name theirs")("metrics", po::value(&metrics),
                                          "serve Prometheus /metrics on HOST:PORT")(
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
  if ((!p.manifests.empty()) + kubernetes + (!kubeconfig.empty()) != 1)
    return fail("give one source: --manifests DIR, --kubernetes or --kubeconfig FILE");
  if (!client_cas.empty()) {
    tls.ca = client_cas.front();
    tls.more_cas.assign(client_cas.begin() + 1, client_cas.end());
  }
  if (tls.cert.empty() || tls.key.empty() || tls.ca.empty()) {
    return fail("--tls-cert, --tls-key and --client-ca are required (plaintext is refused)");
  }
  if (auto st = ParseWorldFlags(allow, cluster, &p.node_states.allowances, &p.cluster_cidrs);
      !st.ok()) {
    return fail(std::string(st.message()));
  }
  common::Logger log("warden control");
  std::unique_ptr<common::DirWatch> watch;
  std::shared_ptr<kube::ApiSource> api;
  if (!p.manifests.empty()) {
    auto w = common::DirWatch::Open(p.manifests);
    if (!w.ok()) return fail("--manifests: " + std::string(w.status().message()));
    watch = std::make_unique<common::DirWatch>(std::move(*w));
  } else {
    auto cfg =
        kubernetes ? kube::InClusterConfig() : kube::KubeconfigConfig(kubeconfig, kube_context);
    if (!cfg.ok()) return fail(std::string(cfg.status().message()));
    auto started = kube::ApiSource::Start(*cfg);
    if (!started.ok()) return fail(std::string(started.status().message()));
    api = std::move(*started);
    p.source = api;
    log.Info("reading the Kubernetes API at ", cfg->host, ":", cfg->port, " (", cfg->origin, ")");
  }
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  control::ControlPlane cp(o);
  std::atomic<control::SyncServer*> sync{nullptr};
  std::unique_ptr<common::HttpServer> http;
  if (!metrics.empty()) {
    // Served from the start: /ready says why the control plane is not serving yet.
    auto h = common::HttpServer::Start(metrics, [&](const std::string& path) {
      control::SyncServer* server = sync.load();
      if (path == "/ready") {
        if (server) return common::HttpResponse{200, "text/plain", "ready\n"};
        std::string why =
            api ? "waiting for the first list of: " + absl::StrJoin(api->Unsynced(), ", ")
                : std::string("compiling");
        return common::HttpResponse{503, "text/plain", why + "\n"};
      }
      if (path != "/metrics") return common::HttpResponse{404, "text/plain", "not found\n"};
      std::string text = server ? server->RenderMetrics() : "";
      if (api) text += api->RenderMetrics();
      return common::HttpResponse{200, "text/plain; version=0.0.4", text};
    });
    if (!h.ok()) return fail(std::string(h.status().message()));
    http = std::move(*h);
  }
  if (api) {
    // Nothing is compiled, and no node is served, before every kind is listed: a cluster read
    // half way (Pods without their NetworkPolicies) would open what the policies close.
    auto next_note = std::chrono::steady_clock::now();
    while (!g_stop && !api->Unsynced().empty()) {
      if (std::chrono::steady_clock::now() >= next_note) {
        log.Info("waiting for the first list of: ", absl::StrJoin(api->Unsynced(), ", "));
        next_note += std::chrono::seconds(10);
      }
      api->WaitChange(std::chrono::steady_clock::now() + std::chrono::milliseconds(200));
    }
    if (g_stop) return 0;
  }
  cp.Refresh(true);
  common::KeepFreedHeap();  // the start's parse peak goes back; what changes free is kept
  if (!cp.Compiled()) log.Warning("no compile in force yet: serving nodes an empty state");
  auto server = control::SyncServer::Start(&cp, listen, tls);
  if (!server.ok()) return fail(std::string(server.status().message()));
  sync = server->get();
  log.Info("serving Sync on port ", (*server)->port());
  while (!g_stop) {
    if (api) {
      api->WaitChange(std::chrono::steady_clock::now() + std::chrono::seconds(1));
      // A burst of events (a rollout) is compiled once.
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } else {
      // inotify says when to look; a slow poll covers what it cannot see (e.g. a remount).
      watch->Wait(1000);
    }
    cp.Refresh();
  }
  sync = nullptr;
  http.reset();
  return 0;
}

}  // namespace warden::cli
