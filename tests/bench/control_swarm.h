// The nodes of a large simulated cluster that have no real agent: one Sync client per node, as
// the agent's (agent/node/sync_client.cc) in what it does with an update: subscribe as its node,
// check and apply every update to its own copy of the node state (nodestate::ApplyUpdate, the
// user-space twin of the agent's tables), ACK or NACK it. They share a few mTLS connections (a
// certificate names the nodes of its connection) and gRPC's callback threads, so that thousands
// fit on one machine beside the control plane. The cluster-wide ipcache and namespace list of a
// full update are decoded once per distinct encoding (the control plane writes the same bytes
// to every node) and held once, which keeps 5,000 nodes' states in a few GB and the swarm's
// decoding from taking the CPUs a real cluster's nodes would each bring.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "agent/nodestate/node_state.h"
#include "tests/lib/timing.h"
#include "warden/v1/sync.grpc.pb.h"

namespace warden::bench {

struct SwarmOptions {
  std::string address;             // the control plane's Sync server, host:port
  std::string pki;                 // ca.pem and the certificates SwarmCertSpecs named
  std::vector<std::string> nodes;  // one client each
  int connections = 8;
};

// The `scripts/gen-certs` arguments for the swarm's certificates: one per connection, named
// swarm-K, naming its nodes.
std::vector<std::string> SwarmCertSpecs(const std::vector<std::string>& nodes, int connections);

class Swarm {
 public:
  // Starts every client; throws Failure when the PKI files cannot be read.
  explicit Swarm(const SwarmOptions& o);
  // Ends every stream and waits for them.
  ~Swarm();

  size_t size() const { return clients_.size(); }
  // How many hold a state (applied a full update), and how many streams ended.
  size_t Holding() const;
  size_t Ended() const;
  uint64_t Nacks() const { return nacks_; }
  // The version client `i` holds, and when (steady clock) it applied its last update.
  uint64_t Version(size_t i) const;
  testlib::Clock::time_point AppliedAt(size_t i) const;
  // The first error a stream ended with, if any.
  std::string FirstError() const;

  class Client;  // one node's stream

  // A full update's shared parts (their encoded bytes) and what they decoded to; `defaults`
  // holds the ipcache's two default routes, without which a full update does not apply.
  struct SharedParts {
    std::vector<std::string> bytes;
    common::Shared<nodestate::IpcacheMap> ipcache;
    nodestate::NamespaceMap namespaces;
    v1::Update defaults;
  };
  std::shared_ptr<const SharedParts> Decoded(const std::vector<std::string_view>& bytes) const;
  void Remember(const std::vector<std::string_view>& bytes, const nodestate::NodeState& s);
  void NoteError(const std::string& e);
  void StreamEnded(const grpc::Status& s);

 private:
  std::shared_ptr<const SharedParts> DecodedLocked(const std::vector<std::string_view>& b) const;

  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs_;
  std::vector<std::unique_ptr<Client>> clients_;
  std::atomic<uint64_t> nacks_{0};
  std::atomic<size_t> ended_{0};
  mutable std::mutex mu_;
  std::string first_error_;
  std::vector<std::shared_ptr<const SharedParts>> decoded_;  // the distinct ones seen so far
  friend class Client;
};

}  // namespace warden::bench
