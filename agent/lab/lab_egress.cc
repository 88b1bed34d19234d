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
    if (l.find(kInForceLine) != std::string::npos) return true;
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

const LabPod* FindGatewayPod(const LabState& lab, const std::string& gateway_namespace) {
  for (const auto& p : lab.pods) {
    if (!p.key.starts_with(gateway_namespace + "/")) continue;
    const LabNode* n = lab.FindNode(p.node);
    if (n && n->pool == "gateway") return &p;
  }
  return nullptr;
}

LabGateway PlanGateway(const std::string& self, const LabPod& pod, const std::string& pki,
                       const std::string& state_dir) {
  const std::string hosts = state_dir + "/gateway-hosts";
  std::ofstream out(hosts);
  out << "127.0.0.1 localhost\n";
  for (const auto& [name, ip] : kWorldNames) out << ip << " " << name << "\n";
  LabGateway g;
  g.pod = pod.key;
  g.access_log = LogPath(state_dir, "gateway-access.jsonl");
  g.metrics = kGatewayMetrics;
  // A mount namespace of its own, where /etc/hosts is the lab's names: what the cluster's DNS
  // answers a real gateway.
  g.argv = {"/usr/bin/unshare",
            "--mount",
            "--propagation",
            "private",
            "/bin/sh",
            "-c",
            "mount --bind \"$0\" /etc/hosts && exec \"$@\"",
            hosts,
            self,
            "gateway",
            "--netns",
            pod.netns,
            "--node",
            pod.node,
            "--control",
            ControlAddress(),
            "--tls-cert",
            CertPath(pki, pod.node),
            "--tls-key",
            KeyPath(pki, pod.node),
            "--tls-ca",
            CaPath(pki),
            "--tls-server-name",
            "warden-control",
            "--listen",
            kGatewayListen,
            "--metrics",
            kGatewayMetrics,
            "--access-log",
            g.access_log,
            "--upstream-ca",
            CaPath(pki)};
  return g;
}

absl::StatusOr<pid_t> StartGateway(const LabState& lab, const std::string& state_dir) {
  if (!lab.gateway) return absl::FailedPreconditionError("the lab runs no gateway");
  const LabPod* pod = lab.FindPod(lab.gateway->pod);
  if (!pod) return absl::NotFoundError("the gateway's pod is gone from the lab");
  return Spawn(lab.gateway->argv, LogPath(state_dir, "gateway.log"), pod->cgroup);
}

absl::Status WaitForGateway(const LabState& lab, const std::string& state_dir,
                            std::streamoff log_from) {
  const std::string log = LogPath(state_dir, "gateway.log");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!StateInForce(log, log_from)) {
    int status;
    if (waitpid(lab.gateway->pid, &status, WNOHANG) != 0)
      return absl::InternalError(absl::StrCat("the gateway exited; see ", log));
    if (std::chrono::steady_clock::now() > deadline)
      return absl::DeadlineExceededError(
          absl::StrCat("the gateway had no state from the control plane in 20 s; see ", log));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::OkStatus();
}

absl::StatusOr<pid_t> LabStartGateway(const std::string& state_dir) {
  WD_ASSIGN_OR_RETURN(LabState lab, ReadLabState(state_dir));
  // The log is appended to: what the last gateway wrote does not count as this one ready.
  std::error_code ec;
  const auto before = std::filesystem::file_size(LogPath(state_dir, "gateway.log"), ec);
  WD_ASSIGN_OR_RETURN(pid_t pid, StartGateway(lab, state_dir));
  lab.gateway->pid = pid;
  WD_RETURN_IF_ERROR(WriteLabState(state_dir, lab));
  WD_RETURN_IF_ERROR(WaitForGateway(lab, state_dir, ec ? 0 : static_cast<std::streamoff>(before)));
  return pid;
}

}  // namespace warden::lab
