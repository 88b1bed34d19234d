// Where the forwarder takes a connection's record from: the datapath's wd_fwd_records (written
// by the sockops program before the pod's SYN left), or a stand-in in tests.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "agent/forwarder/node_view.h"

namespace warden::forwarder {

class FlowRecords {
 public:
  virtual ~FlowRecords() = default;
  // The record of the connection from `src`:`port` (the pod socket's end), taken: a second call
  // finds nothing. nullopt when there is none.
  virtual absl::StatusOr<std::optional<Record>> Take(const policy::IpAddress& src,
                                                     uint16_t port) = 0;
};

// The datapath's records, pinned under `bpffs_dir` (opened at the first Take, so that the
// forwarder may start listening before the agent has loaded the programs).
std::unique_ptr<FlowRecords> DatapathRecords(std::string bpffs_dir);

}  // namespace warden::forwarder
