#include "tests/bench/control_swarm.h"

#include <climits>
#include <condition_variable>
#include <deque>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/common/files.h"
#include "agent/common/status_macros.h"
#include "agent/nodestate/objects_wire.h"
#include "agent/nodestate/wire.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "tests/bench/bench_failure.h"

namespace warden::bench {

using testlib::Clock;

std::vector<std::string> SwarmCertSpecs(const std::vector<std::string>& nodes, int connections) {
  std::vector<std::string> specs(connections);
  for (int k = 0; k < connections; ++k) specs[k] = absl::StrCat("swarm-", k);
  for (size_t i = 0; i < nodes.size(); ++i) absl::StrAppend(&specs[i % connections], ",", nodes[i]);
  return specs;
}

namespace {

using google::protobuf::internal::WireFormatLite;

// An encoded SyncResponse's `update` field, occurrence by occurrence: a full update from the
// Sync server is the node's own parts, then the parts every node shares, each encoded once for
// all nodes (nodestate::FullResponseForWire); a parser merges them. Empty if the bytes are not
// only `update` fields (a heartbeat) or do not walk as protobuf fields.
std::vector<std::string_view> UpdatesOf(std::string_view response) {
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(response.data()),
                                            static_cast<int>(response.size()));
  in.SetTotalBytesLimit(INT_MAX);
  std::vector<std::string_view> out;
  while (true) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) break;
    uint32_t len = 0;
    if (WireFormatLite::GetTagFieldNumber(tag) != v1::SyncResponse::kUpdateFieldNumber ||
        WireFormatLite::GetTagWireType(tag) != WireFormatLite::WIRETYPE_LENGTH_DELIMITED ||
        !in.ReadVarint32(&len) || static_cast<size_t>(in.CurrentPosition()) + len > response.size())
      return {};
    out.push_back(response.substr(in.CurrentPosition(), len));
    if (!in.Skip(static_cast<int>(len))) return {};
  }
  if (in.CurrentPosition() != static_cast<int>(response.size())) return {};
  return out;
}

std::string Flatten(const grpc::ByteBuffer& b) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!b.Dump(&slices).ok()) return out;
  out.reserve(b.Length());
  for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

grpc::ByteBuffer Encode(const v1::SyncRequest& r) {
  grpc::Slice s(r.SerializeAsString());
  return grpc::ByteBuffer(&s, 1);
}

}  // namespace

// One node's stream, on raw bytes (gRPC's generic stub) so that a full update's shared fields
// are looked at before they are decoded. Reads and applies on gRPC's callback threads; one
// write (the Subscribe, then ACKs) in flight at a time, the others queued.
class Swarm::Client final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  Client(Swarm* swarm, std::string node, size_t index)
      : swarm_(swarm), node_(std::move(node)), index_(index) {}

  void Start(grpc::GenericStub* stub) {
    // gRPC keeps a pointer to the method's name: it must outlive the call.
    static const std::string kMethod = "/warden.v1.Sync/Stream";
    stub->PrepareBidiStreamingCall(&ctx_, kMethod, grpc::StubOptions(), this);
    v1::SyncRequest sub;
    sub.mutable_subscribe()->set_node(node_);
    sub.mutable_subscribe()->set_role(v1::ROLE_NODE);
    Send(sub);
    StartRead(&in_);
    StartCall();
  }
  void Cancel() { ctx_.TryCancel(); }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // the stream is over: OnDone follows
    const std::string bytes = Flatten(in_);
    if (std::vector<std::string_view> parts = UpdatesOf(bytes); !parts.empty()) Take(bytes, parts);
    StartRead(&in_);  // anything else is a heartbeat (or garbage a real agent would drop)
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
  // Checks and applies one update (`response`, whose `update` occurrences are `parts`), then
  // ACKs or NACKs it.
  void Take(std::string_view response, const std::vector<std::string_view>& parts) {
    v1::Update u;
    absl::Status st = Apply(response, parts, &u);
    if (st.ok() && held_.node != node_)
      st = absl::InvalidArgumentError("node_config.node is not this node");
    if (st.ok()) {
      applied_ns_ = Clock::now().time_since_epoch().count();
      version_ = held_.version;
      holding_ = true;
    } else {
      ++swarm_->nacks_;
      swarm_->NoteError(absl::StrCat(node_, ": ", st.message()));
    }
    v1::SyncRequest ack;
    ack.mutable_ack()->set_version(u.version());
    ack.mutable_ack()->set_ok(st.ok());
    if (!st.ok()) ack.mutable_ack()->set_error(std::string(st.message()));
    Send(ack);
  }

  // nodestate::ApplyUpdate on the parsed response, as the agent does. A full update's shared
  // parts whose bytes the swarm has decoded already (for another node) are not decoded again:
  // the node's own part is applied and the decoded shared parts are taken, which is the same
  // state (decoding is a function of the bytes; every 64th node decodes all and checks that).
  // Thousands of machines decode their own in parallel; here they share two CPUs with the
  // control plane.
  absl::Status Apply(std::string_view response, const std::vector<std::string_view>& parts,
                     v1::Update* u) {
    const std::vector<std::string_view> shared(parts.begin() + 1, parts.end());
    if (!shared.empty()) {
      if (std::shared_ptr<const SharedParts> decoded = swarm_->Decoded(shared)) {
        if (!u->ParseFromArray(parts[0].data(), static_cast<int>(parts[0].size())))
          return absl::InvalidArgumentError("unparsable update");
        if (u->full()) {
          u->MergeFrom(decoded->defaults);  // the rest of the ipcache is taken as decoded
          nodestate::NodeState next = held_;
          WD_RETURN_IF_ERROR(nodestate::ApplyUpdate(*u, &next));
          next.ipcache = decoded->ipcache;
          next.namespaces = decoded->namespaces;
          if (index_ % 64 == 0) WD_RETURN_IF_ERROR(CheckAgainstWhole(response, next));
          held_ = std::move(next);
          return absl::OkStatus();
        }
        u->Clear();  // not a full update: decoded whole below
      }
    }
    v1::SyncResponse whole;
    if (!whole.ParseFromArray(response.data(), static_cast<int>(response.size())))
      return absl::InvalidArgumentError("unparsable update");
    u->Swap(whole.mutable_update());
    WD_RETURN_IF_ERROR(nodestate::ApplyUpdate(*u, &held_));  // unchanged unless it applies
    if (u->full() && !shared.empty()) swarm_->Remember(shared, held_);
    return absl::OkStatus();
  }

  // The state the whole response decodes to, compared with `taken`.
  absl::Status CheckAgainstWhole(std::string_view response, const nodestate::NodeState& taken) {
    v1::SyncResponse whole;
    if (!whole.ParseFromArray(response.data(), static_cast<int>(response.size())))
      return absl::InvalidArgumentError("unparsable update");
    nodestate::NodeState check = held_;
    WD_RETURN_IF_ERROR(nodestate::ApplyUpdate(whole.update(), &check));
    if (!check.SameContents(taken))
      return absl::InternalError("swarm: the shared parts taken differ from the update's own");
    return absl::OkStatus();
  }

  void Send(const v1::SyncRequest& r) {
    std::lock_guard<std::mutex> l(mu_);
    out_.push_back(Encode(r));  // a deque: the message being written stays where it is
    if (out_.size() == 1) StartWrite(&out_.front());
  }

  Swarm* swarm_;
  std::string node_;
  size_t index_;
  grpc::ClientContext ctx_;
  grpc::ByteBuffer in_;
  nodestate::NodeState held_;
  std::mutex mu_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::deque<grpc::ByteBuffer> out_;
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
    stubs_.push_back(std::make_unique<grpc::GenericStub>(channels_.back()));
  }
  for (size_t i = 0; i < o.nodes.size(); ++i)
    clients_.push_back(std::make_unique<Client>(this, o.nodes[i], i));
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

std::shared_ptr<const Swarm::SharedParts> Swarm::DecodedLocked(
    const std::vector<std::string_view>& bytes) const {
  for (const auto& p : decoded_) {
    if (p->bytes.size() == bytes.size() && std::equal(bytes.begin(), bytes.end(), p->bytes.begin()))
      return p;
  }
  return nullptr;
}

std::shared_ptr<const Swarm::SharedParts> Swarm::Decoded(
    const std::vector<std::string_view>& bytes) const {
  std::lock_guard<std::mutex> l(mu_);
  return DecodedLocked(bytes);
}

void Swarm::Remember(const std::vector<std::string_view>& bytes, const nodestate::NodeState& s) {
  std::lock_guard<std::mutex> l(mu_);
  if (DecodedLocked(bytes)) return;
  auto parts = std::make_shared<SharedParts>(
      SharedParts{{bytes.begin(), bytes.end()}, s.ipcache, s.namespaces, {}});
  for (policy::Family f : {policy::Family::kV4, policy::Family::kV6}) {
    policy::Cidr any;
    any.addr.family = f;
    auto it = s.ipcache->find(any);
    if (it == s.ipcache->end()) continue;  // the update would not have applied
    v1::IpcacheEntry* e = parts->defaults.add_ipcache();
    nodestate::ToWire(any, e->mutable_prefix());
    e->set_identity(it->second.identity);
    e->set_cidr_identity(it->second.cidr_identity);
    e->set_ns_identity(it->second.ns_identity);
  }
  decoded_.push_back(std::move(parts));
}

void Swarm::NoteError(const std::string& e) {
  std::lock_guard<std::mutex> l(mu_);
  if (first_error_.empty()) first_error_ = e;
}

void Swarm::StreamEnded(const grpc::Status& s) {
  ++ended_;
  if (s.ok() || s.error_code() == grpc::StatusCode::CANCELLED) return;
  std::lock_guard<std::mutex> l(mu_);
  if (first_error_.empty()) first_error_ = absl::StrCat(s.error_code(), ": ", s.error_message());
}

}  // namespace warden::bench
