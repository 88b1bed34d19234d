#include "tests/bench/control_swarm.h"

#include <condition_variable>
#include <deque>

#include "absl/strings/str_cat.h"
#include "agent/common/files.h"
#include "agent/nodestate/wire.h"
#include "tests/bench/bench_failure.h"

namespace warden::bench {

using testlib::Clock;

std::vector<std::string> SwarmCertSpecs(const std::vector<std::string>& nodes, int connections) {
  std::vector<std::string> specs(connections);
  for (int k = 0; k < connections; ++k) specs[k] = absl::StrCat("swarm-", k);
  for (size_t i = 0; i < nodes.size(); ++i) absl::StrAppend(&specs[i % connections], ",", nodes[i]);
  return specs;
}

// One node's stream. Reads and applies on gRPC's callback threads; one write (the Subscribe,
// then ACKs) in flight at a time, the others queued.
class Swarm::Client final : public grpc::ClientBidiReactor<v1::SyncRequest, v1::SyncResponse> {
 public:
  Client(Swarm* swarm, std::string node) : swarm_(swarm), node_(std::move(node)) {}

  void Start(v1::Sync::Stub* stub) {
    stub->async()->Stream(&ctx_, this);
    v1::SyncRequest sub;
    sub.mutable_subscribe()->set_node(node_);
    sub.mutable_subscribe()->set_role(v1::ROLE_NODE);
    Send(std::move(sub));
    StartRead(&resp_);
    StartCall();
  }
  void Cancel() { ctx_.TryCancel(); }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // the stream is over: OnDone follows
    if (resp_.has_update()) {
      const v1::Update& u = resp_.update();
      absl::Status st = nodestate::ApplyUpdate(u, &held_);  // unchanged unless it applies
      if (st.ok() && held_.node != node_)
        st = absl::InvalidArgumentError("node_config.node is not this node");
      if (st.ok()) {
        if (u.full()) swarm_->Intern(&held_);
        applied_ns_ = Clock::now().time_since_epoch().count();
        version_ = held_.version;
        holding_ = true;
      } else {
        ++swarm_->nacks_;
      }
      v1::SyncRequest ack;
      ack.mutable_ack()->set_version(u.version());
      ack.mutable_ack()->set_ok(st.ok());
      if (!st.ok()) ack.mutable_ack()->set_error(std::string(st.message()));
      Send(std::move(ack));
    }
    StartRead(&resp_);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> l(mu_);
    out_.pop_front();
    if (ok && !out_.empty()) StartWrite(&out_.front());
  }

  void OnDone(const grpc::Status& s) override {
    swarm_->StreamEnded(s);
    std::lock_guard<std::mutex> l(mu_);
    done_ = true;
    done_cv_.notify_all();
  }

  void WaitDone() {
    std::unique_lock<std::mutex> l(mu_);
    done_cv_.wait(l, [&] { return done_; });
  }

  std::atomic<uint64_t> version_{0};
  std::atomic<int64_t> applied_ns_{0};
  std::atomic<bool> holding_{false};

 private:
  void Send(v1::SyncRequest r) {
    std::lock_guard<std::mutex> l(mu_);
    out_.push_back(std::move(r));  // a deque: the message being written stays where it is
    if (out_.size() == 1) StartWrite(&out_.front());
  }

  Swarm* swarm_;
  std::string node_;
  grpc::ClientContext ctx_;
  v1::SyncResponse resp_;
  nodestate::NodeState held_;
  std::mutex mu_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::deque<v1::SyncRequest> out_;
};

Swarm::Swarm(const SwarmOptions& o) {
  auto read = [](const std::string& path) {
    auto text = common::ReadFile(path);
    if (!text.ok()) throw Failure("swarm: " + text.status().ToString());
    return *text;
  };
  const std::string ca = read(o.pki + "/ca.pem");
  for (int k = 0; k < o.connections; ++k) {
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = ca;
    tls.pem_cert_chain = read(absl::StrCat(o.pki, "/swarm-", k, ".pem"));
    tls.pem_private_key = read(absl::StrCat(o.pki, "/swarm-", k, "-key.pem"));
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("warden-control");
    args.SetInt("swarm.connection", k);  // a connection of its own, not one shared by all
    channels_.push_back(grpc::CreateCustomChannel(o.address, grpc::SslCredentials(tls), args));
    stubs_.push_back(v1::Sync::NewStub(channels_.back()));
  }
  for (size_t i = 0; i < o.nodes.size(); ++i)
    clients_.push_back(std::make_unique<Client>(this, o.nodes[i]));
  for (size_t i = 0; i < clients_.size(); ++i) clients_[i]->Start(stubs_[i % o.connections].get());
}

Swarm::~Swarm() {
  for (auto& c : clients_) c->Cancel();
  for (auto& c : clients_) c->WaitDone();
}

size_t Swarm::Holding() const {
  size_t n = 0;
  for (const auto& c : clients_) n += c->holding_;
  return n;
}

size_t Swarm::Ended() const { return ended_; }

uint64_t Swarm::Version(size_t i) const { return clients_[i]->version_; }

Clock::time_point Swarm::AppliedAt(size_t i) const {
  return Clock::time_point(Clock::duration(clients_[i]->applied_ns_.load()));
}

std::string Swarm::FirstError() const {
  std::lock_guard<std::mutex> l(mu_);
  return first_error_;
}

void Swarm::Intern(nodestate::NodeState* s) {
  std::lock_guard<std::mutex> l(mu_);
  bool ipcache = false, namespaces = false;
  for (const auto& c : canon_) {
    if (!ipcache && c.ipcache == s->ipcache) {
      s->ipcache = c.ipcache;
      ipcache = true;
    }
    if (!namespaces && c.namespaces == s->namespaces) {
      s->namespaces = c.namespaces;
      namespaces = true;
    }
  }
  if (ipcache && namespaces) return;
  nodestate::NodeState parts;  // only the shared parts are kept
  parts.ipcache = s->ipcache;
  parts.namespaces = s->namespaces;
  canon_.push_back(std::move(parts));
}

void Swarm::StreamEnded(const grpc::Status& s) {
  ++ended_;
  if (s.ok() || s.error_code() == grpc::StatusCode::CANCELLED) return;
  std::lock_guard<std::mutex> l(mu_);
  if (first_error_.empty()) first_error_ = absl::StrCat(s.error_code(), ": ", s.error_message());
}

}  // namespace warden::bench
