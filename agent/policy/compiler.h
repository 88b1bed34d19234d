// Compiles the validated objects into the datapath's tables (snapshot.h). docs/datapath.md
// describes the tables and why they give exactly the NetworkPolicy semantics of model.h.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/policy/cluster.h"
#include "agent/policy/snapshot.h"

namespace warden::policy {

// How much of each cluster-wide table the datapath can hold (every node gets the whole ipcache
// and every port set): the most its tables grow to (bpf/warden_consts.h). A compile that needs
// more fails naming the table, so that the tables in force stay as they are, instead of every
// agent refusing the result.
struct TableLimits {
  size_t portsets = WD_PORTSETS_MAX_ENTRIES;
  size_t portranges = WD_PORTRANGES_LIMIT;     // ranges of sets too large to sit inline
  size_t ipcache_hosts = WD_IPHOST_LIMIT;      // pod and node addresses (/32, /128)
  size_t ipcache_prefixes = WD_IPCACHE_LIMIT;  // every other prefix
  static TableLimits None() { return {SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX}; }
};

struct CompileOptions {
  // Address ranges inside the cluster besides the nodes' podCIDRs (service CIDR, node subnet):
  // they get the `cluster` identity, so node-pool lockdown does not treat them as the world.
  std::vector<Cidr> cluster_cidrs;
  TableLimits limits;
};

// What a compile keeps for the next one: the identities and the ipcache, which depend only on
// the pods, the nodes, the ipBlock prefixes of the policies and the cluster CIDRs. When none of
// those changed (a NetworkPolicy edit that adds no prefix), the next compile takes them from
// here and compiles only the policies.
struct CompileCache;

// Fails (ResourceExhausted, naming the table) when the cluster needs more identities, port
// sets or ipcache entries than there are, or than `options.limits` allow.
absl::StatusOr<Snapshot> Compile(const ClusterState& state, const CompileOptions& options = {});
// The same result, reusing what `*cache` (if set) holds, and leaving there what this compile
// built (on success only). `*cache` is created on first use.
absl::StatusOr<Snapshot> Compile(const ClusterState& state, const CompileOptions& options,
                                 std::shared_ptr<CompileCache>* cache);

// Whether `snap`'s cluster-wide tables fit `limits`.
absl::Status CheckTableLimits(const Snapshot& snap, const TableLimits& limits);

}  // namespace warden::policy
