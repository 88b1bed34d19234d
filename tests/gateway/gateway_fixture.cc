#include "tests/gateway/gateway_fixture.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "agent/lab/lab_pki.h"
#include "agent/nodestate/gateway_state.h"
#include "agent/policy/manifest_loader.h"
#include "tests/lib/child_process.h"
#include "tests/lib/metrics_endpoint.h"

namespace warden::gateway_test {
namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;

namespace {

// nginx as the "internet": example.com and httpbin.org with certificates of the lab CA, and a
// default server whose certificate names wrong-name.test (any other name reaches it). Its log
// names the connection each request came on, to see upstream reuse from the server's side.
std::string NginxConf(const std::string& dir, uint16_t port) {
  auto server = [&](const std::string& name, const std::string& cert, const std::string& extra) {
    return absl::StrCat("  server {\n    listen 127.0.0.1:", port, " ssl", extra, ";\n",
                        "    server_name ", name, ";\n    ssl_certificate ", dir, "/pki/", cert,
                        ".pem;\n    ssl_certificate_key ", dir, "/pki/", cert, "-key.pem;\n",
                        "    location = /status/418 { return 418 \"teapot\\n\"; }\n",
                        "    location = /get { return 200 \"{\\\"host\\\":\\\"$host\\\"}\\n\"; }\n",
                        "    location = /empty { return 204; }\n", "    location /upload/ { root ",
                        dir, "/www; dav_methods PUT; }\n",
                        "    location / { return 200 \"hello from $host\\n\"; }\n  }\n");
  };
  return absl::StrCat(
      geteuid() == 0 ? "user root;\n" : "", "worker_processes 1;\npid ", dir, "/nginx.pid;\n",
      "error_log ", dir, "/nginx-error.log;\ndaemon off;\nevents { worker_connections 256; }\n",
      "http {\n  client_body_temp_path ", dir, "/tmp;\n  proxy_temp_path ", dir, "/tmp;\n",
      "  fastcgi_temp_path ", dir, "/tmp;\n  uwsgi_temp_path ", dir, "/tmp;\n  scgi_temp_path ",
      dir, "/tmp;\n  keepalive_requests 1000;\n",
      "  log_format conn '$connection $connection_requests $ssl_server_name $request_method "
      "$uri $status $request_length $http_x_request_id';\n  access_log ",
      dir, "/nginx-access.log conn;\n",
      server("wrong-name.test", "wrong-name.test", " default_server"),
      server("example.com", "example.com", ""), server("httpbin.org", "httpbin.org", ""), "}\n");
}

std::vector<std::string> Lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

}  // namespace

FlowClient::FlowClient(uint16_t port, const std::string& cert, const std::string& key,
                       const std::string& ca)
    : ctx_(asio::ssl::context::tls_client) {
  ctx_.load_verify_file(ca);
  if (!cert.empty()) {
    ctx_.use_certificate_chain_file(cert);
    ctx_.use_private_key_file(key, asio::ssl::context::pem);
  }
  ctx_.set_verify_mode(asio::ssl::verify_peer);
  s_ = std::make_unique<Tls>(io_, ctx_);
  SSL_set1_host(s_->native_handle(), "gateway-1");
  static const unsigned char kAlpn[] = "\x0dwarden-flow/1";
  SSL_set_alpn_protos(s_->native_handle(), kAlpn, sizeof(kAlpn) - 1);
  s_->next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  boost::system::error_code ec;
  s_->handshake(asio::ssl::stream_base::client, ec);
  // TLS 1.3: a refused client certificate is reported after the client's handshake completes,
  // as an alert: the connection is refused when it turns readable (the gateway says nothing
  // first) within a moment.
  if (!ec && ClosedWithin(150)) ec = asio::error::connection_refused;
  if (ec) handshake_error_ = ec.message();
}

void FlowClient::SendHeader(const nodestate::Flow& f) { Send(nodestate::EncodeFlowHeader(f)); }

void FlowClient::Send(const std::string& bytes) { asio::write(*s_, asio::buffer(bytes)); }

http::response<http::string_body> FlowClient::Read(bool head) {
  http::response_parser<http::string_body> p;
  p.body_limit(64 << 20);
  p.skip(head);
  boost::system::error_code ec;
  http::read(*s_, buf_, p, ec);
  http::response<http::string_body> res = p.release();
  if (ec) res.result(0);
  return res;
}

bool FlowClient::ReadableWithin(int ms) {
  pollfd p{s_->next_layer().native_handle(), POLLIN, 0};
  return ::poll(&p, 1, ms) == 1;
}

bool FlowClient::ClosedWithin(int ms) {
  // Post-handshake messages (TLS 1.3 session tickets) make the socket readable with nothing for
  // the application: read without blocking until the deadline, an error or data.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  auto& sock = s_->next_layer();
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !ReadableWithin(static_cast<int>(left.count()))) return false;
    sock.non_blocking(true);
    boost::system::error_code ec;
    size_t n = s_->read_some(buf_.prepare(4096), ec);
    sock.non_blocking(false);
    if (ec == asio::error::would_block || ec == asio::error::try_again) continue;
    if (ec) return true;
    buf_.commit(n);
    return false;  // it answered
  }
}

GatewayFixture::GatewayFixture(const std::string& yaml)
    : dir_(absl::StrCat(std::filesystem::temp_directory_path().string(), "/warden-gateway-test-",
                        getpid())) {
  std::filesystem::create_directories(dir_.path() + "/tmp");
  std::filesystem::create_directories(dir_.path() + "/www/upload");
  std::vector<lab::LabCert> certs;
  for (const char* n :
       {"default-1", "default-2", "gateway-1", "example.com", "httpbin.org", "wrong-name.test"})
    certs.push_back({n, ""});
  certs.push_back({"warden-control", "127.0.0.1"});  // the control plane, for Sync tests
  if (auto st = lab::MakePki(dir_.path() + "/pki", certs); !st.ok())
    throw std::runtime_error(std::string(st.message()));
  if (auto st = lab::MakePki(dir_.path() + "/foreign", {{"default-1", ""}}); !st.ok())
    throw std::runtime_error(std::string(st.message()));
  nginx_port_ = testlib::FreePort();
  std::ofstream(dir_.path() + "/nginx.conf") << NginxConf(dir_.path(), nginx_port_);
  nginx_ = testlib::Spawn({"/usr/sbin/nginx", "-c", dir_.path() + "/nginx.conf", "-p", dir_.path()},
                          dir_.path() + "/nginx.out");
  for (int i = 0; i < 100 && !testlib::Listening(nginx_port_); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (!testlib::Listening(nginx_port_))
    throw std::runtime_error("nginx did not start:\n" +
                             testlib::LogTail(dir_.path() + "/nginx-error.log") +
                             testlib::LogTail(dir_.path() + "/nginx.out"));

  gateway::GatewayProcessOptions o;
  o.control.node = "gateway-1";
  o.control.cert = cert("gateway-1");
  o.control.key = key("gateway-1");
  o.control.ca = ca();
  o.listen = "127.0.0.1:0";
  o.metrics = "127.0.0.1:0";
  o.access_log = dir_.path() + "/access.jsonl";
  o.upstream_ca = ca();
  o.limits.upstream_response = std::chrono::milliseconds(3000);
  gopts_ = o.gateway;
  options_ = o;
  auto gw = gateway::Gateway::Start(o);
  if (!gw.ok()) throw std::runtime_error(std::string(gw.status().message()));
  gw_ = std::move(*gw);
  SetManifests(yaml);
}

GatewayFixture::~GatewayFixture() {
  gw_.reset();
  if (nginx_ > 0) testlib::EndChild(nginx_);
}

std::string GatewayFixture::Expand(const std::string& yaml) const {
  return absl::StrReplaceAll(yaml, {{"{{NGINX}}", absl::StrCat(nginx_port_)}});
}

void GatewayFixture::SetManifests(const std::string& yaml) {
  policy::LoadResult r = policy::LoadManifestTexts({{"test.yaml", Expand(yaml)}});
  if (!r.errors.empty()) throw std::runtime_error(r.errors[0].ToString());
  nodestate::GatewayScope scope{gopts_.gateway_namespace, gopts_.root_namespace};
  state_ = std::make_shared<const gateway::CompiledGateway>(
      nodestate::GatewayStateOf(r.state, scope), gopts_);
  gw_->SetState(state_);
}

std::unique_ptr<gateway::Gateway> GatewayFixture::StartAnother(
    int workers, std::vector<std::string> client_cas) {
  gateway::GatewayProcessOptions o = options_;
  o.workers = workers;
  o.client_cas = std::move(client_cas);
  o.metrics = "127.0.0.1:0";
  o.access_log = dir_.path() + "/access-" + std::to_string(workers) + ".jsonl";
  auto gw = gateway::Gateway::Start(o);
  if (!gw.ok()) throw std::runtime_error(std::string(gw.status().message()));
  (*gw)->SetState(state_);
  return std::move(*gw);
}

std::string GatewayFixture::ca() const { return lab::CaPath(dir_.path() + "/pki"); }
std::string GatewayFixture::cert(const std::string& n) const {
  return lab::CertPath(dir_.path() + "/pki", n);
}
std::string GatewayFixture::key(const std::string& n) const {
  return lab::KeyPath(dir_.path() + "/pki", n);
}
std::string GatewayFixture::foreign_cert() const {
  return lab::CertPath(dir_.path() + "/foreign", "default-1");
}
std::string GatewayFixture::foreign_key() const {
  return lab::KeyPath(dir_.path() + "/foreign", "default-1");
}

std::unique_ptr<FlowClient> GatewayFixture::Open(const std::string& node, const std::string& ns,
                                                 const std::string& pod, uint16_t port,
                                                 const std::string& sa) {
  return OpenAt(gw_->port(), node, ns, pod, port, sa);
}

std::unique_ptr<FlowClient> GatewayFixture::OpenAt(uint16_t gateway_port, const std::string& node,
                                                   const std::string& ns, const std::string& pod,
                                                   uint16_t port, const std::string& sa) {
  auto c = std::make_unique<FlowClient>(gateway_port, cert(node), key(node), ca());
  if (!c->handshake_error().empty()) throw std::runtime_error("handshake: " + c->handshake_error());
  nodestate::Flow f;
  f.ns = ns;
  f.pod = pod;
  f.service_account = sa;
  f.original_ip = *policy::ParseIp("127.0.0.1");
  f.original_port = port;
  f.flow_id = 7;
  c->SendHeader(f);
  return c;
}

std::vector<std::string> GatewayFixture::AccessLog(size_t at_least) const {
  std::vector<std::string> l;
  for (int i = 0; i < 40; ++i) {
    l = Lines(dir_.path() + "/access.jsonl");
    if (l.size() >= at_least) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return l;
}

std::vector<std::string> GatewayFixture::NginxLog() const {
  return Lines(dir_.path() + "/nginx-access.log");
}

std::vector<std::string> GatewayFixture::NginxLogOf(const std::string& request_id) const {
  std::vector<std::string> out;
  for (int i = 0; i < 40 && out.empty(); ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    for (auto& l : NginxLog()) {
      if (absl::EndsWith(l, " " + request_id)) out.push_back(std::move(l));
    }
  }
  return out;
}

}  // namespace warden::gateway_test
