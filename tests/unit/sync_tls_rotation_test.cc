// The Sync client's certificate rotated in place, as the kubelet rotates a Secret volume: the
// stream in progress is reconnected with the new certificate (the serial the server sees)
// without a restart; files that do not load leave the last good certificate in use, also for a
// reconnect after the stream broke.
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/auth_context.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "agent/common/files.h"
#include "agent/lab/lab_pki.h"
#include "agent/nodestate/sync_stream.h"
#include "tests/lib/scratch_dir.h"
#include "tests/lib/secret_volume.h"
#include "warden/v1/sync.grpc.pb.h"

namespace warden::nodestate {
namespace {

// A Sync server that heartbeats every stream and notes the serial of each client certificate.
class SerialsSeen : public v1::Sync::Service {
 public:
  grpc::Status Stream(grpc::ServerContext* ctx,
                      grpc::ServerReaderWriter<v1::SyncResponse, v1::SyncRequest>* s) override {
    v1::SyncRequest sub;
    if (!s->Read(&sub)) return grpc::Status::OK;
    for (const auto& pem : ctx->auth_context()->FindPropertyValues("x509_pem_cert")) {
      std::lock_guard<std::mutex> l(mu_);
      serials_.push_back(testlib::SerialOfPem(std::string(pem.data(), pem.size())));
    }
    v1::SyncResponse beat;
    beat.mutable_heartbeat();
    while (!ctx->IsCancelled() && !end_streams_ && s->Write(beat))
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return grpc::Status::OK;
  }
  std::vector<std::string> serials() {
    std::lock_guard<std::mutex> l(mu_);
    return serials_;
  }
  // Waits (5 s at most) for the `n`th connection; its serial, or "" when none came.
  std::string WaitForConnection(size_t n) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
      std::vector<std::string> seen = serials();
      if (seen.size() >= n) return seen[n - 1];
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return "";
  }
  std::atomic<bool> end_streams_{false};

 private:
  std::mutex mu_;
  std::vector<std::string> serials_;
};

TEST(SyncTlsRotationTest, TheStreamMovesToARotatedCertificateWithoutARestart) {
  testlib::ScratchDir dir(std::filesystem::temp_directory_path().string() + "/warden-syncrot-" +
                          std::to_string(getpid()));
  const std::string pki = dir.path() + "/pki";
  ASSERT_TRUE(lab::MakePki(pki, {{"warden-control", ""}}).ok());
  auto volume = testlib::SecretVolume::Create(dir.path() + "/secret", pki, "n1");
  ASSERT_TRUE(volume.ok()) << volume.status();

  SerialsSeen service;
  grpc::SslServerCredentialsOptions so(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  so.pem_root_certs = *common::ReadFile(lab::CaPath(pki));
  so.pem_key_cert_pairs.push_back({*common::ReadFile(lab::KeyPath(pki, "warden-control")),
                                   *common::ReadFile(lab::CertPath(pki, "warden-control"))});
  int port = 0;
  grpc::ServerBuilder b;
  b.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(so), &port);
  b.RegisterService(&service);
  auto server = b.BuildAndStart();
  ASSERT_GT(port, 0);

  SyncStreamOptions o;
  o.address = "127.0.0.1:" + std::to_string(port);
  o.node = "n1";
  o.cert = volume->cert();
  o.key = volume->key();
  o.ca = volume->ca();
  o.server_name = "warden-control";
  o.tls_check_ms = 100;
  SyncStream stream(
      o, v1::ROLE_NODE, common::Logger("sync test"),
      [](const v1::SyncResponse&) { return absl::OkStatus(); }, [] { return uint64_t{0}; });
  stream.Start();
  auto serial_of = [&] { return testlib::SerialOfPem(*common::ReadFile(volume->cert())); };

  const std::string first = serial_of();
  EXPECT_EQ(service.WaitForConnection(1), first);

  // The stream is healthy (heartbeats): it is the change of files that reconnects it.
  ASSERT_TRUE(volume->Rotate().ok());
  const std::string second = serial_of();
  ASSERT_NE(second, first);
  EXPECT_EQ(service.WaitForConnection(2), second);

  // Files that do not load: the stream stays as it is...
  ASSERT_TRUE(volume->RotateToMismatchedKey().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(service.serials().size(), 2u) << "a bad key dropped a good stream";
  EXPECT_TRUE(stream.stats().connected.load());
  // ...and a reconnect (the server ended the stream) uses the last good certificate.
  service.end_streams_ = true;
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  service.end_streams_ = false;
  EXPECT_EQ(service.WaitForConnection(3), second);

  ASSERT_TRUE(volume->Rotate().ok());
  const std::string third = serial_of();
  EXPECT_EQ(service.WaitForConnection(4), third);

  stream.Stop();
  server->Shutdown();
}

}  // namespace
}  // namespace warden::nodestate
