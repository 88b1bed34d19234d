// The Sync server's TLS, kept current from its files without a restart: gRPC's file watcher
// re-reads the certificate, the key and the clients' CA bundle (a Secret renewed in place by
// cert-manager is served from the next handshake on; the watcher keeps what it had while new
// files do not load). Several CA files (Warden's, and the cluster's for kubelet certificates) are
// handed to it as one bundle held in memory, a memfd read through /proc/self/fd (no writable
// directory needed), replaced whole by a thread of ours when any of them changes.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/security/server_credentials.h>

#include "absl/status/statusor.h"
#include "agent/common/watched_files.h"

namespace warden::control {

struct TlsFiles;

class ServerTls {
 public:
  // Checks the files first (each parses, the key matches the certificate): an error names the
  // file. `refresh` is how often they are looked at (at least a second).
  static absl::StatusOr<std::unique_ptr<ServerTls>> Create(const TlsFiles& tls,
                                                           std::chrono::seconds refresh);
  ~ServerTls();
  std::shared_ptr<grpc::ServerCredentials> credentials() const { return credentials_; }

 private:
  ServerTls() = default;
  // The CA files joined; an error names the file that does not read or holds no certificate.
  absl::StatusOr<std::string> Bundle() const;
  // Replaces the bundle the watcher reads by `text`, in one step (dup2 of a new memfd).
  absl::Status Publish(const std::string& text);
  void WatchCas();

  std::vector<std::string> cas_;
  int bundle_fd_ = -1;  // -1: a single CA file, watched by gRPC itself
  std::unique_ptr<common::WatchedFiles> watched_;
  std::shared_ptr<grpc::ServerCredentials> credentials_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::chrono::seconds refresh_{30};
  std::thread thread_;
};

}  // namespace warden::control
