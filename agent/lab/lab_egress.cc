#include "agent/lab/lab_egress.h"

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"
#include "agent/lab/lab_network.h"
#include "agent/lab/lab_processes.h"

namespace warden::lab {
namespace {

namespace fs = std::filesystem;

constexpr char kGatewayListen[] = "0.0.0.0:15443";
constexpr char kGatewayMetrics[] = "127.0.0.1:15090";  // inside the pod (Istio's stats port)
constexpr char kInForceLine[] = "in force in";         // GatewaySync's log of a state taken
constexpr char kSavedInForceLine[] = "saved version";  // the gateway's log of its saved state

struct WebHost {
  std::string name;
  std::vector<std::string> addresses;
};
const std::vector<WebHost> kWebHosts = {{"example.com", {"203.0.113.10", "[2001:db8::10]"}},
                                        {"httpbin.org", {"203.0.113.20", "[2001:db8::20]"}}};

std::string NginxConf(const std::string& dir, const std::string& pki, const std::string& logs) {
  std::string servers;
  for (const auto& h : kWebHosts) {
    absl::StrAppend(&servers, "  server {\n");
    // reuseport: the echo servers hold the port on every address; nginx takes these two.
    for (const auto& a : h.addresses)
      absl::StrAppend(&servers, "    listen ", a, ":443 ssl reuseport;\n");
    absl::StrAppend(&servers, "    server_name ", h.name, ";\n    ssl_certificate ",
                    CertPath(pki, h.name), ";\n    ssl_certificate_key ", KeyPath(pki, h.name),
                    ";\n", "    location = /status/418 { return 418 \"I'm a teapot\\n\"; }\n",
                    "    location = /get { default_type application/json; return 200 "
                    "\"{\\\"url\\\": \\\"https://$host/get\\\"}\\n\"; }\n",
                    "    location / { return 200 \"hello from $host\\n\"; }\n  }\n");
  }
  return absl::StrCat("user root;\nworker_processes 1;\ndaemon off;\npid ", dir,
                      "/nginx.pid;\nerror_log ", logs,
                      "/internet-nginx-error.log;\nevents { worker_connections 1024; }\nhttp {\n",
                      "  client_body_temp_path ", dir, ";\n  proxy_temp_path ", dir,
                      ";\n  fastcgi_temp_path ", dir, ";\n  uwsgi_temp_path ", dir,
                      ";\n  scgi_temp_path ", dir, ";\n", "  keepalive_requests 10000;\n",
                      "  log_format conn '$remote_addr conn=$connection req=$connection_requests "
                      "sni=$ssl_server_name \"$request\" $status';\n",
                      "  access_log ", logs, "/internet-https.log conn;\n", servers, "}\n");
}

// Whether the gateway's log says a state from the control plane is in force.
// Whether the gateway's log says a state is in force, after its first `from` bytes.
bool StateInForce(const std::string& log, std::streamoff from) {
  std::ifstream in(log);
  in.seekg(from);
  std::string l;
  while (std::getline(in, l))
    if (l.find(kInForceLine) != std::string::npos || l.find(kSavedInForceLine) != std::string::npos)
      return true;
  return false;
}

}  // namespace

std::vector<LabCert> InternetCerts() {
  std::vector<LabCert> out;
  for (const auto& h : kWebHosts) out.push_back({h.name, ""});
  return out;
}

absl::StatusOr<pid_t> StartInternetHttps(const LabState& lab, const std::string& state_dir,
                                         const std::string& pki) {
  const std::string dir = state_dir + "/nginx";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("creating ", dir, ": ", ec.message()));
  std::ofstream(dir + "/nginx.conf") << NginxConf(dir, pki, state_dir + "/logs");
  WD_ASSIGN_OR_RETURN(pid_t pid, Spawn({"/usr/sbin/ip", "netns", "exec", lab.inet.netns,
                                        "/usr/sbin/nginx", "-c", dir + "/nginx.conf", "-p", dir},
                                       LogPath(state_dir, "internet-nginx.log"), lab.inet.cgroup));
  // Listening once the pid file is written (after every listen socket is bound).
  for (int i = 0; i < 200; ++i) {
    if (fs::exists(dir + "/nginx.pid")) return pid;
    int status;
    if (waitpid(pid, &status, WNOHANG) != 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return absl::InternalError(
      absl::StrCat("nginx did not start; see ", state_dir, "/logs/internet-nginx-error.log"));
}

std::vector<const LabPod*> FindGatewayPods(const LabState& lab,
                                           const std::string& gateway_namespace) {
  std::vector<const LabPod*> out;
  for (const auto& p : lab.pods) {
    if (!p.key.starts_with(gateway_namespace + "/")) continue;
    const LabNode* n = lab.FindNode(p.node);
    if (n && n->pool == "gateway") out.push_back(&p);
  }
  return out;
}

namespace {
std::string PodName(const std::string& key) { return key.substr(key.find('/') + 1); }

// Whether `pid` is a process that has not ended (a zombie has).
bool Running(pid_t pid) {
  if (pid <= 0) return false;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  const size_t close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z' &&
         line[close + 2] != 'X';
}
}  // namespace

std::string GatewayLog(const LabGateway& g, const std::string& state_dir) {
  return LogPath(state_dir, PodName(g.pod) + ".log");
}

LabGateway PlanGateway(const std::string& self, const LabPod& pod, const std::string& pki,
                       const std::string& state_dir) {
  const std::string hosts = state_dir + "/gateway-hosts";
  std::ofstream out(hosts);
  out << "127.0.0.1 localhost\n";
  for (const auto& [name, ip] : kWorldNames) out << ip << " " << name << "\n";
  LabGateway g;
  g.pod = pod.key;
  g.access_log = LogPath(state_dir, PodName(pod.key) + "-access.jsonl");
  g.metrics = kGatewayMetrics;
  // A mount namespace of its own, where /etc/hosts is the lab's names: what the cluster's DNS
  // answers a real gateway.
  g.argv = {"/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
            "mount --bind \"$0\" /etc/hosts && exec \"$@\"", hosts, self, "gateway", "--netns",
            pod.netns, "--node", pod.node, "--control", ControlAddress(), "--tls-cert",
            CertPath(pki, pod.node), "--tls-key", KeyPath(pki, pod.node), "--tls-ca", CaPath(pki),
            "--tls-server-name", "warden-control", "--listen", kGatewayListen, "--metrics",
            kGatewayMetrics, "--access-log", g.access_log, "--upstream-ca", CaPath(pki),
            "--state-dir", absl::StrCat(state_dir, "/gateway-state/", PodName(pod.key)),
            // One worker: one upstream pool per replica, so that what the tests and the demo
            // show of upstream reuse does not hang on which worker took a connection.
            "--workers", "1"};
  return g;
}

absl::StatusOr<pid_t> StartGateway(const LabState& lab, const LabGateway& g,
                                   const std::string& state_dir) {
  const LabPod* pod = lab.FindPod(g.pod);
  if (!pod)
    return absl::NotFoundError(absl::StrCat("the gateway's pod ", g.pod, " is gone from the lab"));
  return Spawn(g.argv, GatewayLog(g, state_dir), pod->cgroup);
}

absl::Status WaitForGateway(const LabGateway& g, const std::string& state_dir,
                            std::streamoff log_from) {
  const std::string log = GatewayLog(g, state_dir);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!StateInForce(log, log_from)) {
    int status;
    if (waitpid(g.pid, &status, WNOHANG) != 0)
      return absl::InternalError(absl::StrCat("the gateway in ", g.pod, " exited; see ", log));
    if (std::chrono::steady_clock::now() > deadline)
      return absl::DeadlineExceededError(absl::StrCat(
          "the gateway in ", g.pod, " had no state from the control plane in 20 s; see ", log));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<pid_t>> LabStartGateway(const std::string& state_dir,
                                                   const std::string& pod) {
  WD_ASSIGN_OR_RETURN(LabState lab, ReadLabState(state_dir));
  if (lab.gateways.empty()) return absl::FailedPreconditionError("the lab runs no gateway");
  std::vector<LabGateway*> which;
  if (!pod.empty()) {
    LabGateway* g = lab.FindGateway(pod);
    if (!g) return absl::NotFoundError(absl::StrCat("no gateway runs in pod ", pod));
    which.push_back(g);
  } else {
    // Every replica whose process is gone (or a zombie: killed, not reaped yet).
    for (auto& g : lab.gateways)
      if (!Running(g.pid)) which.push_back(&g);
  }
  std::vector<std::pair<LabGateway*, std::streamoff>> started;
  for (LabGateway* g : which) {
    // The log is appended to: what the last process wrote does not count as this one ready.
    std::error_code ec;
    const auto before = std::filesystem::file_size(GatewayLog(*g, state_dir), ec);
    WD_ASSIGN_OR_RETURN(g->pid, StartGateway(lab, *g, state_dir));
    started.push_back({g, ec ? 0 : static_cast<std::streamoff>(before)});
  }
  WD_RETURN_IF_ERROR(WriteLabState(state_dir, lab));
  std::vector<pid_t> pids;
  for (auto& [g, from] : started) {
    WD_RETURN_IF_ERROR(WaitForGateway(*g, state_dir, from));
    pids.push_back(g->pid);
  }
  return pids;
}

}  // namespace warden::lab
