#include "agent/gateway/gateway.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <future>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/common/log.h"
#include "agent/common/status_macros.h"
#include "agent/gateway/stream.h"
#include "agent/nodestate/store.h"

namespace warden::gateway {

// A worker: a thread with its own ring and upstream pool, accepting on the gateway's one
// listening socket; its connections never touch another worker's state.
struct Gateway::Worker {
  std::unique_ptr<Ring> ring;
  std::thread thread;
};

namespace {

absl::StatusOr<sockaddr_storage> ParseListen(const std::string& s, socklen_t* len) {
  size_t colon = s.rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(s.substr(colon + 1), &port) || port > 65535)
    return absl::InvalidArgumentError(absl::StrCat("--listen ", s, ": not HOST:PORT"));
  std::string host = s.substr(0, colon);
  if (host.size() > 1 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  std::optional<sockaddr_storage> ss = SocketAddress(host, static_cast<uint16_t>(port), len);
  if (!ss)
    return absl::InvalidArgumentError(
        absl::StrCat("--listen ", s, ": ", host, " is not an IPv4 or IPv6 address"));
  return *ss;
}

Task<void> AcceptLoop(Ring* ring, int listen_fd, UpstreamPool* pool, const Services* g) {
  Ring::TaskCount counted(ring);
  while (!ring->stopping()) {
    int fd = co_await ring->Accept(listen_fd);
    if (fd >= 0) {
      Spawn(ServeFlow(ring, fd, pool, g));
      continue;
    }
    if (ring->stopping() || fd == -ECANCELED) break;
    // EMFILE and the like: the next accept may succeed once connections end.
    if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM)
      co_await ring->Sleep(std::chrono::milliseconds(50));
  }
}

}  // namespace

Gateway::Gateway(GatewayProcessOptions o) : o_(std::move(o)) {}

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Start(GatewayProcessOptions o) {
  if (o.workers == 0) {
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    o.workers = sched_getaffinity(0, sizeof(cpus), &cpus) == 0 ? CPU_COUNT(&cpus) : 1;
  }
  if (o.workers < 1 || o.workers > 256)
    return absl::InvalidArgumentError("--workers: from 1 to 256 (0: one per CPU)");
  std::unique_ptr<Gateway> g(new Gateway(std::move(o)));
  WD_ASSIGN_OR_RETURN(g->log_, AccessLog::Open(g->o_.access_log));
  WD_ASSIGN_OR_RETURN(
      g->listener_tls_,
      ListenerTls::Create(g->o_.control.cert, g->o_.control.key, g->o_.control.ca,
                          std::chrono::milliseconds(g->o_.control.tls_check_ms), g->o_.client_cas));
  g->services_.listener_tls = g->listener_tls_.get();
  g->upstream_tls_ = std::make_unique<UpstreamContexts>(g->o_.upstream_ca);
  g->services_.state = &g->state_;
  g->services_.log = g->log_.get();
  g->services_.metrics = &g->metrics_;
  g->services_.trust_domain = g->o_.gateway.authz.trust_domain;
  g->services_.limits = g->o_.limits;
  WD_RETURN_IF_ERROR(g->Listen());
  if (!g->o_.metrics.empty()) {
    Gateway* self = g.get();
    WD_ASSIGN_OR_RETURN(g->admin_,
                        common::HttpServer::Start(g->o_.metrics, [self](const std::string& path) {
                          common::HttpResponse r;
                          if (path == "/metrics") {
                            r.body = self->metrics_.Text(self->state_.version(), self->ready());
                          } else if (path == "/ready") {
                            r.status = self->ready() ? 200 : 503;
                            r.body = self->ready()     ? "ready\n"
                                     : self->draining_ ? "draining\n"
                                                       : "no state from the control plane yet\n";
                          } else {
                            r.status = 404;
                            r.body = "not found\n";
                          }
                          return r;
                        }));
  }
  std::string state_file;
  if (!g->o_.state_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(g->o_.state_dir, ec);
    if (ec)
      return absl::InvalidArgumentError(
          absl::StrCat("--state-dir ", g->o_.state_dir, ": ", ec.message()));
    state_file = g->o_.state_dir + "/gateway.state";
    absl::StatusOr<nodestate::GatewayState> saved = nodestate::LoadGatewayState(state_file);
    common::Logger log("warden gateway");
    if (saved.ok()) {
      log.Info("saved version ", saved->version, " in force until the control plane answers");
      g->state_.Set(std::make_shared<const CompiledGateway>(*std::move(saved), g->o_.gateway));
    } else if (!absl::IsNotFound(saved.status())) {
      log.Warning("ignoring saved state: ", saved.status().message());
    }
  }
  if (!g->o_.control.address.empty()) {
    g->sync_ = std::make_unique<GatewaySync>(g->o_.control, g->o_.gateway, &g->state_, state_file);
    g->sync_->Start();
  }
  for (auto& w : g->workers_) {
    Worker* worker = w.get();
    const int listen_fd = g->listen_fd_;
    const Services* services = &g->services_;
    UpstreamContexts* contexts = g->upstream_tls_.get();
    const UpstreamTimeouts timeouts = g->o_.upstream;
    const std::chrono::milliseconds drain = g->o_.drain;
    std::promise<absl::Status> ready;
    std::future<absl::Status> started = ready.get_future();
    // The ring is made on its own thread: that thread alone submits to it.
    worker->thread = std::thread([worker, listen_fd, services, contexts, timeouts, drain, &ready] {
      absl::StatusOr<std::unique_ptr<Ring>> ring = Ring::Create(Ring::Options{});
      if (!ring.ok()) {
        ready.set_value(ring.status());
        return;
      }
      worker->ring = *std::move(ring);
      UpstreamPool pool(worker->ring.get(), contexts, timeouts);
      Spawn(AcceptLoop(worker->ring.get(), listen_fd, &pool, services));
      ready.set_value(absl::OkStatus());
      if (absl::Status s = worker->ring->Run(nullptr, drain); !s.ok())
        common::Logger("warden gateway").Error("a worker stopped: ", s.message());
      pool.Clear();
    });
    if (absl::Status s = started.get(); !s.ok()) {
      worker->thread.join();
      return s;
    }
  }
  return g;
}

absl::Status Gateway::Listen() {
  socklen_t len = 0;
  WD_ASSIGN_OR_RETURN(sockaddr_storage ep, ParseListen(o_.listen, &len));
  // One socket, which every worker accepts on. Not SO_REUSEPORT: a second process on the port
  // (a gateway still exiting, or another one) would silently take half the connections, and
  // those queued at a dying process hang until it is gone. Such a port is waited for instead,
  // 5 s at most, then refused.
  listen_fd_ = ::socket(ep.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return absl::UnavailableError(absl::StrCat("socket: ", std::strerror(errno)));
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (bind(listen_fd_, reinterpret_cast<sockaddr*>(&ep), len) != 0) {
    if (errno != EADDRINUSE || std::chrono::steady_clock::now() > give_up)
      return absl::UnavailableError(
          absl::StrCat("--listen ", o_.listen, ": ", std::strerror(errno)));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (listen(listen_fd_, SOMAXCONN) != 0)
    return absl::UnavailableError(absl::StrCat("--listen ", o_.listen, ": ", std::strerror(errno)));
  sockaddr_storage bound{};
  socklen_t blen = sizeof(bound);
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &blen);
  port_ = ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                           : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  for (int i = 0; i < o_.workers; ++i) workers_.push_back(std::make_unique<Worker>());
  return absl::OkStatus();
}

Gateway::~Gateway() {
  draining_ = true;  // /ready answers 503 from now on
  if (sync_) sync_->Stop();
  // Nothing new from here: connections still queued are reset, so forwarders try another
  // gateway at once; the workers then drain what they hold.
  if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
  for (auto& w : workers_)
    if (w->ring) w->ring->Stop();
  for (auto& w : workers_)
    if (w->thread.joinable()) w->thread.join();
  workers_.clear();
  if (listen_fd_ >= 0) close(listen_fd_);
  admin_.reset();
}

}  // namespace warden::gateway
