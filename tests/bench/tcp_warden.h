// Warden on the TCP part's node tree, as datapath_bench [2] runs it: BpfDatapath Open + Apply
// with the agent's node configuration and 10,000 policy entries (the client's egress to the
// server and the server's ingress from the client allowed, the rest filler), Attach, a detach
// that waits until the kernel has let go of the programs, and an event reader that reads as the
// agent does (PollEvents(100) in a loop).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "agent/datapath/bpf_datapath.h"
#include "tests/bench/tcp_peers.h"
#include "tests/lib/kubelet_node.h"

namespace warden::bench {

// The lane that also crosses the interface programs: its own veth pair between the same two
// network namespaces (so its packets meet them and no other lane's do), its own pods in the
// node's tree. The client's interface is the server-side end of the pair (what the client sends
// arrives at its tc ingress, as at the node side of a pod's veth), the server's the client-side
// end.
struct InterfaceLane {
  Lane lane;
  uint32_t client_addr = 0, server_addr = 0;  // host order
  std::string ns_client, ns_server, dev_client_side, dev_server_side;
};

class TcpWarden {
 public:
  // Pins under `bpffs_dir`; `lane` holds the client's and server's pod cgroups of `node`.
  TcpWarden(const std::string& bpffs_dir, const testlib::KubeletNode& node, const Lane& lane,
            uint32_t client_addr, uint32_t server_addr, const InterfaceLane* both = nullptr);
  TcpWarden(const TcpWarden&) = delete;
  TcpWarden& operator=(const TcpWarden&) = delete;
  ~TcpWarden();  // reader stopped, programs detached, pins removed

  int policy_entries() const { return policy_entries_; }
  // Empties conntrack (every connection of a round is a new flow), attaches every program.
  void Attach();
  // Removes the link pins and waits until the node's cgroup has no programs left.
  void Detach();
  void StartReader();
  void StopReader();
  // Reads what the ring holds now (after a round with nobody reading).
  void DrainEvents();
  uint64_t events_read() const { return events_read_; }
  int ProgramFd(const char* name) const { return dp_->ProgramFd(name); }
  // The interface programs on the interface lane's two devices (each in its network namespace),
  // for as long as this lives.
  void AttachInterfaces();

 private:
  void UnpinLinks();

  std::unique_ptr<datapath::BpfDatapath> dp_;
  std::optional<InterfaceLane> both_;
  uint32_t if_client_ = 0, if_server_ = 0;  // the client's and the server's interface
  int policy_entries_ = 0;
  int node_fd_ = -1;
  std::thread reader_;
  std::atomic<bool> stop_reader_{false};
  std::atomic<uint64_t> events_read_{0};
};

}  // namespace warden::bench
