#include "tests/bench/gateway_env.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "absl/strings/str_cat.h"
#include "agent/lab/lab_pki.h"
#include "tests/lib/child_process.h"
#include "tests/lib/metrics_endpoint.h"
#include "tests/lib/proc_status.h"

namespace warden::bench {
namespace {

namespace fs = std::filesystem;

void WaitListening(uint16_t port, const std::string& what, const std::string& log) {
  for (int i = 0; i < 200 && !testlib::Listening(port); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  if (!testlib::Listening(port))
    throw std::runtime_error(what + " did not listen:\n" + testlib::LogTail(log, 12));
}

std::vector<std::string> Pinned(int cpu, std::vector<std::string> argv) {
  argv.insert(argv.begin(), {"/usr/bin/taskset", "-c", std::to_string(cpu)});
  return argv;
}

std::string TempPaths(const std::string& d) {
  return absl::StrCat("  client_body_temp_path ", d, ";\n  proxy_temp_path ", d,
                      ";\n  fastcgi_temp_path ", d, ";\n  uwsgi_temp_path ", d,
                      ";\n  scgi_temp_path ", d, ";\n");
}

}  // namespace

GatewayEnv::GatewayEnv(const std::string& warden_binary, int proxy_cpu)
    : dir_(absl::StrCat(fs::temp_directory_path().string(), "/warden-gateway-bench-", getpid())) {
  fs::create_directories(dir() + "/tmp");
  if (auto st =
          lab::MakePki(dir() + "/pki", {{"node-1", ""}, {"gateway-1", ""}, {"example.com", ""}});
      !st.ok())
    throw std::runtime_error(std::string(st.message()));
  StartUpstream();
  StartWarden(warden_binary, proxy_cpu);
  StartNginxProxy(proxy_cpu);
  StartHaproxy(proxy_cpu);
}

GatewayEnv::~GatewayEnv() {
  for (const auto& p : proxies_) testlib::EndChild(p.pid);
  if (upstream_) testlib::EndChild(upstream_);
}

const Proxy& GatewayEnv::proxy(const std::string& name) const {
  for (const auto& p : proxies_)
    if (p.name == name) return p;
  throw std::runtime_error("no proxy " + name);
}

std::string GatewayEnv::ca() const { return lab::CaPath(dir() + "/pki"); }
std::string GatewayEnv::client_cert() const { return lab::CertPath(dir() + "/pki", "node-1"); }
std::string GatewayEnv::client_key() const { return lab::KeyPath(dir() + "/pki", "node-1"); }

namespace {
// `of(pid)` summed over the proxy's process and its children (nginx's worker is a child of its
// master).
template <class Of>
long long OverProcesses(pid_t pid, Of of) {
  long long total = of(pid);
  std::ifstream children("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) +
                         "/children");
  for (pid_t c; children >> c;) total += of(c);
  return total;
}
}  // namespace

long long GatewayEnv::CpuNs(const Proxy& p) const {
  return OverProcesses(p.pid, testlib::SchedstatNs);
}

long long GatewayEnv::KernelNs(const Proxy& p) const {
  return OverProcesses(
      p.pid, [](pid_t pid) { return static_cast<long long>(testlib::KernelSeconds(pid) * 1e9); });
}

// nginx as the internet's HTTPS server: a small answer, keep-alive without limit, no log.
void GatewayEnv::StartUpstream() {
  upstream_port_ = testlib::FreePort();
  const std::string pki = dir() + "/pki", conf = dir() + "/upstream.conf";
  std::ofstream(conf) << absl::StrCat(
      geteuid() == 0 ? "user root;\n" : "", "worker_processes 1;\ndaemon off;\npid ", dir(),
      "/upstream.pid;\nerror_log ", dir(), "/upstream-error.log;\n",
      "events { worker_connections 20000; }\nhttp {\n", TempPaths(dir() + "/tmp"),
      "  access_log off;\n  keepalive_requests 1000000;\n  keepalive_timeout 300s;\n",
      "  server {\n    listen 127.0.0.1:", upstream_port_, " ssl;\n    server_name example.com;\n",
      "    ssl_certificate ", lab::CertPath(pki, "example.com"), ";\n    ssl_certificate_key ",
      lab::KeyPath(pki, "example.com"), ";\n    ssl_session_cache shared:up:10m;\n",
      "    location / { return 200 \"hello from example.com\\n\"; }\n  }\n}\n");
  upstream_ = testlib::Spawn({"/usr/sbin/nginx", "-c", conf, "-p", dir()}, dir() + "/upstream.out");
  WaitListening(upstream_port_, "the upstream nginx", dir() + "/upstream-error.log");
}

void GatewayEnv::StartWarden(const std::string& binary, int cpu) {
  const std::string m = dir() + "/manifests";
  fs::create_directories(m);
  std::ofstream(m + "/bench.yaml") << absl::StrCat(R"(apiVersion: v1
kind: Node
metadata: {name: node-1, labels: {cloud.google.com/gke-nodepool: default-pool}}
---
apiVersion: v1
kind: Node
metadata: {name: gateway-1, labels: {cloud.google.com/gke-nodepool: gateway}}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: bench, labels: {app: client}}
spec: {nodeName: node-1, serviceAccountName: client, containers: [{name: c}]}
status: {podIP: 10.244.1.10}
---
apiVersion: v1
kind: Pod
metadata: {name: gateway, namespace: warden-egress, labels: {app: warden-gateway}}
spec: {nodeName: gateway-1, containers: [{name: c}]}
status: {podIP: 10.244.3.10}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: example-com, namespace: warden-egress}
spec:
  hosts: [example.com]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: )",
                                                   upstream_port_, R"(}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: example-com, namespace: warden-egress}
spec:
  host: example.com
  trafficPolicy: {tls: {mode: SIMPLE}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: bench, namespace: warden-egress}
spec:
  selector: {matchLabels: {app: warden-gateway}}
  rules:
  - from: [{source: {principals: [cluster.local/ns/bench/sa/client]}}]
    to: [{operation: {hosts: [example.com], methods: [GET]}}]
)");
  const std::string pki = dir() + "/pki";
  Proxy p{"warden", testlib::FreePort(), 0, true};
  p.pid = testlib::Spawn(Pinned(cpu, {binary,          "gateway",
                                      "--manifests",   m,
                                      "--listen",      absl::StrCat("127.0.0.1:", p.port),
                                      "--tls-cert",    lab::CertPath(pki, "gateway-1"),
                                      "--tls-key",     lab::KeyPath(pki, "gateway-1"),
                                      "--tls-ca",      lab::CaPath(pki),
                                      "--upstream-ca", lab::CaPath(pki),
                                      "--access-log",  dir() + "/warden-access.jsonl",
                                      "--workers",     "1",
                                      "--log-level",   "warning"}),
                         dir() + "/warden.log");
  WaitListening(p.port, "warden gateway", dir() + "/warden.log");
  proxies_.push_back(p);
}

void GatewayEnv::StartNginxProxy(int cpu) {
  const std::string pki = dir() + "/pki", conf = dir() + "/proxy-nginx.conf";
  Proxy p{"nginx", testlib::FreePort(), 0, false};
  std::ofstream(conf) << absl::StrCat(
      geteuid() == 0 ? "user root;\n" : "", "worker_processes 1;\ndaemon off;\npid ", dir(),
      "/proxy-nginx.pid;\nerror_log ", dir(), "/proxy-nginx-error.log;\n",
      "events { worker_connections 20000; }\nhttp {\n", TempPaths(dir() + "/tmp"),
      "  log_format json escape=json '{\"start_time\":\"$time_iso8601\",\"method\":"
      "\"$request_method\",\"path\":\"$request_uri\",\"protocol\":\"$server_protocol\","
      "\"response_code\":$status,\"bytes_received\":$request_length,\"bytes_sent\":$bytes_sent,"
      "\"duration\":$request_time,\"upstream_host\":\"$upstream_addr\","
      "\"upstream_service_time\":\"$upstream_response_time\",\"authority\":\"$host\","
      "\"client\":\"$ssl_client_s_dn\"}';\n",
      "  access_log ", dir(), "/nginx-access.jsonl json buffer=64k flush=1s;\n",
      "  keepalive_requests 1000000;\n  keepalive_timeout 300s;\n",
      "  upstream up { server 127.0.0.1:", upstream_port_, "; keepalive 256; }\n",
      "  server {\n    listen 127.0.0.1:", p.port, " ssl;\n", "    ssl_certificate ",
      lab::CertPath(pki, "gateway-1"), ";\n    ssl_certificate_key ",
      lab::KeyPath(pki, "gateway-1"), ";\n    ssl_client_certificate ", lab::CaPath(pki),
      ";\n    ssl_verify_client on;\n",
      "    location / {\n      proxy_pass https://up;\n      proxy_http_version 1.1;\n",
      "      proxy_set_header Connection \"\";\n      proxy_ssl_server_name on;\n",
      "      proxy_ssl_name example.com;\n      proxy_ssl_verify on;\n",
      "      proxy_ssl_trusted_certificate ", lab::CaPath(pki), ";\n",
      "      proxy_ssl_session_reuse on;\n    }\n  }\n}\n");
  p.pid = testlib::Spawn(Pinned(cpu, {"/usr/sbin/nginx", "-c", conf, "-p", dir()}),
                         dir() + "/proxy-nginx.out");
  WaitListening(p.port, "the nginx proxy", dir() + "/proxy-nginx-error.log");
  proxies_.push_back(p);
}

void GatewayEnv::StartHaproxy(int cpu) {
  const std::string pki = dir() + "/pki", conf = dir() + "/haproxy.cfg";
  // HAProxy takes the certificate and its key in one file.
  {
    std::ofstream both(dir() + "/gateway-1-combined.pem");
    both << std::ifstream(lab::CertPath(pki, "gateway-1")).rdbuf()
         << std::ifstream(lab::KeyPath(pki, "gateway-1")).rdbuf();
  }
  Proxy p{"haproxy", testlib::FreePort(), 0, false};
  std::ofstream(conf) << absl::StrCat(
      "global\n  nbthread 1\n  maxconn 8000\n  log stdout format raw local0\n",
      "defaults\n  mode http\n  log global\n  timeout connect 5s\n  timeout client 300s\n",
      "  timeout server 300s\n  timeout http-keep-alive 300s\n  option http-keep-alive\n",
      "  http-reuse always\n",
      "  log-format '{\"start_time\":\"%t\",\"method\":\"%HM\",\"path\":\"%HU\",\"protocol\":"
      "\"%HV\",\"response_code\":%ST,\"bytes_received\":%U,\"bytes_sent\":%B,\"duration\":%Ta,"
      "\"upstream_host\":\"%si:%sp\",\"upstream_service_time\":%Tr,\"client\":\"%[ssl_c_s_dn]\"}'"
      "\n",
      "frontend in\n  bind 127.0.0.1:", p.port, " ssl crt ", dir(),
      "/gateway-1-combined.pem verify required ca-file ", lab::CaPath(pki), "\n",
      "  default_backend up\n", "backend up\n  server s1 127.0.0.1:", upstream_port_,
      " ssl verify required ca-file ", lab::CaPath(pki),
      " sni str(example.com) verifyhost example.com\n");
  p.pid = testlib::Spawn(Pinned(cpu, {"/usr/sbin/haproxy", "-f", conf, "-db"}),
                         dir() + "/haproxy-access.jsonl");
  WaitListening(p.port, "haproxy", dir() + "/haproxy-access.jsonl");
  proxies_.push_back(p);
}

}  // namespace warden::bench
