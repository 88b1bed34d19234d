#include "agent/control/server_tls.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include "absl/strings/str_cat.h"
#include "agent/common/files.h"
#include "agent/common/log.h"
#include "agent/common/tls_files.h"
#include "agent/control/sync_server.h"

namespace warden::control {

absl::StatusOr<std::string> ServerTls::Bundle() const {
  std::string out;
  for (const std::string& path : cas_) {
    auto text = common::LoadCaPem(path);
    if (!text.ok())
      return absl::InvalidArgumentError(absl::StrCat("--client-ca: ", text.status().message()));
    absl::StrAppend(&out, *text, text->ends_with('\n') ? "" : "\n");
  }
  return out;
}

absl::Status ServerTls::Publish(const std::string& text) {
  int fd = memfd_create("warden-client-cas", MFD_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("memfd_create: ", std::strerror(errno)));
  if (absl::Status st = common::WriteAll(fd, text, "the CA bundle"); !st.ok()) {
    close(fd);
    return st;
  }
  if (bundle_fd_ < 0) {
    bundle_fd_ = fd;
    return absl::OkStatus();
  }
  // The watcher opens /proc/self/fd/N afresh each time: it sees the old bundle or the new one,
  // never a half-written file.
  int r = dup3(fd, bundle_fd_, O_CLOEXEC);
  int err = errno;
  close(fd);
  if (r < 0)
    return absl::InternalError(absl::StrCat("replacing the CA bundle: ", std::strerror(err)));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ServerTls>> ServerTls::Create(const TlsFiles& tls,
                                                             std::chrono::seconds refresh) {
  // (A single CA file is checked here; several, again as they are joined.)
  if (auto pem = common::LoadTlsPem(tls.cert, tls.key, tls.ca); !pem.ok()) return pem.status();
  std::unique_ptr<ServerTls> t(new ServerTls());
  t->refresh_ = std::max(refresh, std::chrono::seconds(1));
  t->cas_.push_back(tls.ca);
  t->cas_.insert(t->cas_.end(), tls.more_cas.begin(), tls.more_cas.end());
  std::string roots = tls.ca;
  if (!tls.more_cas.empty()) {
    auto bundle = t->Bundle();
    if (!bundle.ok()) return bundle.status();
    if (auto st = t->Publish(*bundle); !st.ok()) return st;
    roots = absl::StrCat("/proc/self/fd/", t->bundle_fd_);
    t->watched_ = std::make_unique<common::WatchedFiles>(
        t->cas_, std::chrono::duration_cast<std::chrono::milliseconds>(t->refresh_));
    t->thread_ = std::thread([p = t.get()] { p->WatchCas(); });
  }
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      tls.key, tls.cert, roots, static_cast<unsigned>(t->refresh_.count()));
  grpc::experimental::TlsServerCredentialsOptions o(provider);
  o.watch_root_certs();
  o.watch_identity_key_cert_pairs();
  o.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  t->credentials_ = grpc::experimental::TlsServerCredentials(o);
  return t;
}

void ServerTls::WatchCas() {
  common::Logger log("warden control");
  std::unique_lock<std::mutex> l(mu_);
  while (!cv_.wait_for(l, refresh_, [&] { return stop_; })) {
    if (!watched_->Changed()) continue;
    auto bundle = Bundle();
    if (!bundle.ok()) {
      log.Error("the client CAs changed but do not load; keeping the ones in use: ",
                bundle.status().message());
      continue;
    }
    if (auto st = Publish(*bundle); !st.ok()) {
      log.Error(st.message());
      continue;
    }
    log.Info("the client CAs changed: new handshakes verify against them");
  }
}

ServerTls::~ServerTls() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (bundle_fd_ >= 0) close(bundle_fd_);
}

}  // namespace warden::control
