#include "tests/lib/test_gateway.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include <gtest/gtest.h>

#include "agent/common/netns.h"
#include "agent/lab/lab_pki.h"

namespace warden::testlib {

TestGateway::TestGateway(std::string netns, std::string ip, uint16_t port, std::string node,
                         const std::string& pki)
    : netns_(std::move(netns)), ip_(std::move(ip)), node_(std::move(node)) {
  ctx_ = SSL_CTX_new(TLS_server_method());
  SSL_CTX_set_min_proto_version(ctx_, TLS1_3_VERSION);
  bool ok =
      SSL_CTX_use_certificate_chain_file(ctx_, lab::CertPath(pki, node_).c_str()) == 1 &&
      SSL_CTX_use_PrivateKey_file(ctx_, lab::KeyPath(pki, node_).c_str(), SSL_FILETYPE_PEM) == 1 &&
      SSL_CTX_load_verify_locations(ctx_, lab::CaPath(pki).c_str(), nullptr) == 1;
  EXPECT_TRUE(ok) << "test gateway " << node_ << ": certificate files";
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  static const unsigned char kCtx[] = "warden-test-gateway";
  SSL_CTX_set_session_id_context(ctx_, kCtx, sizeof(kCtx) - 1);
  SSL_CTX_set_alpn_select_cb(
      ctx_,
      [](SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
         unsigned int inlen, void*) {
        static const unsigned char kWant[] = "\x0dwarden-flow/1";
        unsigned char* sel = nullptr;
        if (SSL_select_next_proto(&sel, outlen, kWant, sizeof(kWant) - 1, in, inlen) !=
            OPENSSL_NPN_NEGOTIATED)
          return SSL_TLSEXT_ERR_ALERT_FATAL;
        *out = sel;
        return SSL_TLSEXT_ERR_OK;
      },
      nullptr);
  // The listening socket is made in the namespace (setns on a thread of its own), then served
  // from anywhere.
  std::thread([this, port] {
    if (!netns_.empty() && !common::EnterNetns(netns_).ok()) return;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, ip_.c_str(), &a.sin_addr);
    socklen_t len = sizeof(a);
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      close(fd);
      return;
    }
    port_ = ntohs(a.sin_port);
    listen_fd_ = fd;
  }).join();
  EXPECT_GE(listen_fd_, 0) << "test gateway " << ip_ << ": listening";
  if (listen_fd_ >= 0) acceptor_ = std::thread([this] { AcceptLoop(); });
}

TestGateway::~TestGateway() {
  Kill();
  if (acceptor_.joinable()) acceptor_.join();
  for (auto& t : conns_) t.join();
  SSL_CTX_free(ctx_);
}

void TestGateway::Kill() {
  std::lock_guard<std::mutex> l(mu_);
  if (killed_) return;
  killed_ = true;
  if (listen_fd_ >= 0) shutdown(listen_fd_, SHUT_RDWR);
  for (int fd : open_fds_) shutdown(fd, SHUT_RDWR);
}

std::vector<Seen> TestGateway::seen() {
  std::lock_guard<std::mutex> l(mu_);
  return seen_;
}

void TestGateway::AcceptLoop() {
  for (;;) {
    int c = accept(listen_fd_, nullptr, nullptr);
    if (c < 0) break;
    std::lock_guard<std::mutex> l(mu_);
    if (killed_) {
      close(c);
      break;
    }
    open_fds_.push_back(c);
    conns_.emplace_back([this, c] { Serve(c); });
  }
  close(listen_fd_);
}

void TestGateway::Serve(int fd) {
  SSL* ssl = SSL_new(ctx_);
  SSL_set_fd(ssl, fd);
  if (SSL_accept(ssl) != 1) {
    ++handshakes_failed_;
  } else {
    Seen s;
    X509* peer = SSL_get1_peer_certificate(ssl);
    s.client_is_node_a = peer && X509_check_host(peer, "node-a", 0,
                                                 X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, nullptr) == 1;
    X509_free(peer);
    s.resumed = SSL_session_reused(ssl) == 1;
    std::string buf;
    char b[4096];
    bool have_header = false;
    for (;;) {
      int n = SSL_read(ssl, b, sizeof(b));
      if (n <= 0) break;
      buf.append(b, static_cast<size_t>(n));
      if (!have_header) {
        auto d = nodestate::DecodeFlowHeader(buf);
        if (!d.ok()) break;
        if (!d->has_value()) continue;
        have_header = true;
        s.flow = (*d)->flow;
        buf.erase(0, (*d)->consumed);
        std::lock_guard<std::mutex> l(mu_);
        seen_.push_back(s);
      }
      if (!buf.empty() && SSL_write(ssl, buf.data(), static_cast<int>(buf.size())) <= 0) break;
      buf.clear();
    }
    SSL_shutdown(ssl);  // after the forwarder's close_notify: ours, the stream's end both ways
  }
  SSL_free(ssl);
  std::lock_guard<std::mutex> l(mu_);
  open_fds_.erase(std::find(open_fds_.begin(), open_fds_.end(), fd));
  close(fd);
}

}  // namespace warden::testlib
