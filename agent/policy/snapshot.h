// The compiled snapshot: the cluster-wide tables the kernel datapath looks up (layouts from
// bpf/warden_structs.h; port sets as ranges, the kernel's form made from them), plus the
// identity catalogue that explains them. Node states are cut from it (agent/nodestate/) and
// written into each node's BPF maps; `explain` evaluates it through the user-space twin of the
// kernel lookup (lookup.h).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "agent/common/abi.h"
#include "agent/common/shared.h"
#include "agent/policy/objects.h"
#include "agent/policy/port_sets.h"
#include "warden_structs.h"

namespace warden::policy {

// A named port a pod declares; pods that differ here get different identities so that a named
// port resolves to one number per identity.
struct NamedPort {
  std::string name;
  Protocol protocol = Protocol::kTCP;
  int port = 0;
  auto operator<=>(const NamedPort&) const = default;
};

// kNamespace: every pod of one namespace (`ns`), as policy entries name them.
enum class IdentityKind { kReserved, kPod, kCidr, kNamespace };

struct Identity {
  uint32_t id = 0;
  IdentityKind kind = IdentityKind::kReserved;
  std::string name;  // readable: "team-x app=web sa=default", "cidr 10.0.0.0/8", "world"
  // Pod identities: namespace, labels, service account; members are "ns/name" keys (shared:
  // every compile of one set of pods copies the identities, not their 150,000 members).
  std::string ns;
  Labels labels;
  std::string service_account;
  common::Shared<std::vector<std::string>> pods;
  // Pod and CIDR identities: the named ports of the pods (for CIDR identities: of the pods whose
  // address falls under `prefix`).
  std::vector<NamedPort> named_ports;
  // CIDR identities: the prefix, or none for "pods without an address".
  std::optional<Cidr> prefix;
  uint8_t isolated = 0;  // WD_ISOLATED_* (pod identities)
};

// A policy entry's key: the local pod identity, the remote identity, the direction seen from the
// local pod. Ordered so that one local identity's entries are adjacent.
struct PolicyKey {
  uint32_t local = 0;
  uint32_t remote = 0;
  uint8_t direction = WD_DIR_INGRESS;
  auto operator<=>(const PolicyKey&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const PolicyKey& k) {
    return H::combine(std::move(h), k.local, k.remote, k.direction);
  }
  wd_policy_key ToAbi() const {
    wd_policy_key k{};
    k.local_identity = local;
    k.remote_identity = remote;
    k.direction = direction;
    return k;
  }
};

using PolicyEntries = common::SharedMap<absl::flat_hash_map<PolicyKey, wd_policy_value>>;

// What the compile made of one pod.
struct CompiledPod {
  uint32_t identity = 0;
  // The CIDR identity that stands for this pod when it has no address (see docs/datapath.md).
  uint32_t no_address_cidr_identity = 0;
  uint32_t ns_identity = 0;  // its namespace's identity
};

struct Snapshot {
  std::vector<Identity> identities;  // sorted by id
  absl::flat_hash_map<uint32_t, size_t> identity_index;
  // "ns/name" -> what the compile made of it (shared between compiles of one base).
  common::SharedMap<std::map<std::string, CompiledPod>> pods;
  // Kernel tables.
  std::vector<std::pair<wd_ipcache_key, wd_ipcache_value>> ipcache;  // sorted by key bytes
  // Shared with the compile cache, which the next compile builds on (copied once by a change).
  PolicyEntries policy;
  // The port sets policy entries name, by id: [WD_PORTSET_EMPTY], [WD_PORTSET_ALL], then the
  // interned sets (the kernel's form: AppendKernelPortset).
  PortsetList portsets;
  // Names the build of `pods`, `ipcache` and the identities' members (not their isolation):
  // two snapshots with the same non-null base have the same of those, from the same pods
  // (compiler.h, CompileCache), so whoever derives from them may reuse what it derived.
  std::shared_ptr<const void> base;
  // Names this compile's policy entries (with a CompileCache; else null). When
  // `policy_changed_from` names an earlier compile's, the entries are that compile's except
  // those of the local identities in `policy_changed_locals` (sorted): whoever derived
  // something from that compile's entries may redo only those.
  std::shared_ptr<const void> policy_build;
  std::shared_ptr<const void> policy_changed_from;
  std::vector<uint32_t> policy_changed_locals;

  const Identity* FindIdentity(uint32_t id) const {
    auto it = identity_index.find(id);
    return it == identity_index.end() ? nullptr : &identities[it->second];
  }
  // The WD_ISOLATED_* bits of identity `id` (none for an identity the snapshot lacks).
  uint8_t IsolationOf(uint32_t id) const {
    const Identity* i = FindIdentity(id);
    return i ? i->isolated : 0;
  }
};

// The ipcache key of a prefix (the LPM key covers the family byte: WD_IPCACHE_PREFIX_BASE), and
// back.
wd_ipcache_key MakeIpcacheKey(const Cidr& prefix);
Cidr CidrOfKey(const wd_ipcache_key& key);

}  // namespace warden::policy
