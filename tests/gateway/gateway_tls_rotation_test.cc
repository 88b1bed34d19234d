// The gateway's listener certificate rotated in place, as the kubelet rotates a Secret volume:
// without a restart, a new connection is handshaken with the new certificate (the serial the
// forwarder sees), a connection under way keeps going, and files that do not load (a key that is
// not the certificate's) leave the last good certificate in use.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "agent/common/files.h"
#include "agent/gateway/gateway.h"
#include "agent/lab/lab_pki.h"
#include "tests/lib/scratch_dir.h"
#include "tests/lib/secret_volume.h"

namespace warden::gateway {
namespace {

// A forwarder's TLS connection to the gateway (the node's certificate), kept open.
class Client {
 public:
  Client(uint16_t port, const std::string& pki) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_use_certificate_chain_file(ctx_, lab::CertPath(pki, "node-a").c_str());
    SSL_CTX_use_PrivateKey_file(ctx_, lab::KeyPath(pki, "node-a").c_str(), SSL_FILETYPE_PEM);
    SSL_CTX_load_verify_locations(ctx_, lab::CaPath(pki).c_str(), nullptr);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) return;
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    if (SSL_connect(ssl_) != 1) {
      char buf[256];
      ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
      error_ = buf;
      return;
    }
    X509* peer = SSL_get1_peer_certificate(ssl_);
    if (!peer) return;
    BIO* out = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(out, peer);
    char* data = nullptr;
    long n = BIO_get_mem_data(out, &data);
    serial_ = testlib::SerialOfPem(std::string(data, n));
    BIO_free(out);
    X509_free(peer);
  }
  ~Client() {
    if (ssl_) SSL_free(ssl_);
    if (fd_ >= 0) close(fd_);
    SSL_CTX_free(ctx_);
  }
  // The serial of the gateway's certificate ("" without a handshake).
  const std::string& serial() const { return serial_; }
  const std::string& error() const { return error_; }
  // Still open after `ms`: nothing but TLS records of its own (session tickets) has come from
  // the gateway, no end, no alert.
  bool OpenAfter(int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) | O_NONBLOCK);
    char c;
    return SSL_read(ssl_, &c, 1) <= 0 && SSL_get_error(ssl_, -1) == SSL_ERROR_WANT_READ;
  }

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  std::string serial_, error_;
};

TEST(GatewayTlsRotationTest, NewConnectionsTakeARotatedCertificateWithoutARestart) {
  testlib::ScratchDir dir(std::filesystem::temp_directory_path().string() + "/warden-gwrot-" +
                          std::to_string(getpid()));
  const std::string pki = dir.path() + "/pki";
  ASSERT_TRUE(lab::MakePki(pki, {{"node-a", ""}}).ok());
  auto volume = testlib::SecretVolume::Create(dir.path() + "/secret", pki, "gateway-1");
  ASSERT_TRUE(volume.ok()) << volume.status();

  GatewayProcessOptions o;
  o.control.cert = volume->cert();
  o.control.key = volume->key();
  o.control.ca = volume->ca();
  o.control.tls_check_ms = 100;
  o.listen = "127.0.0.1:0";
  o.access_log = dir.path() + "/access.jsonl";
  auto gw = Gateway::Start(o);
  ASSERT_TRUE(gw.ok()) << gw.status();
  const uint16_t port = (*gw)->port();
  auto wait = [] { std::this_thread::sleep_for(std::chrono::milliseconds(250)); };

  const std::string first = testlib::SerialOfPem(*common::ReadFile(volume->cert()));
  Client before(port, pki);
  ASSERT_EQ(before.serial(), first) << before.error();

  ASSERT_TRUE(volume->Rotate().ok());
  const std::string second = testlib::SerialOfPem(*common::ReadFile(volume->cert()));
  ASSERT_NE(second, first);
  wait();
  Client after(port, pki);
  EXPECT_EQ(after.serial(), second) << after.error();
  EXPECT_TRUE(before.OpenAfter(100)) << "the connection under way was cut";

  // A key that is not the certificate's: the last good pair stays in use.
  ASSERT_TRUE(volume->RotateToMismatchedKey().ok());
  wait();
  Client mismatched(port, pki);
  EXPECT_EQ(mismatched.serial(), second) << mismatched.error();
  ASSERT_TRUE(volume->RotateToGarbage().ok());
  wait();
  Client garbage(port, pki);
  EXPECT_EQ(garbage.serial(), second) << garbage.error();

  ASSERT_TRUE(volume->Rotate().ok());
  const std::string third = testlib::SerialOfPem(*common::ReadFile(volume->cert()));
  wait();
  Client good_again(port, pki);
  EXPECT_EQ(good_again.serial(), third) << good_again.error();
}

}  // namespace
}  // namespace warden::gateway
