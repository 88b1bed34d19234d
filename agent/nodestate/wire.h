// Node states on the wire (proto/warden/v1/sync.proto): a whole state, or the difference between
// two versions, and applying either to the state a client holds.
#pragma once

#include "absl/status/status.h"
#include "agent/nodestate/node_state.h"
#include "warden/v1/sync.pb.h"

namespace warden::nodestate {

// Everything, or the difference from `from` (whose version becomes base_version).
v1::Update FullUpdate(const NodeState& s);
v1::Update DeltaUpdate(const NodeState& from, const NodeState& to);
// The same into `*u` (empty), which may live on an arena: a full update is tens of thousands of
// small messages, and an arena makes building and freeing them a fraction of the cost.
void FullUpdate(const NodeState& s, v1::Update* u);
void DeltaUpdate(const NodeState& from, const NodeState& to, v1::Update* u);
// A full update only to be sent or stored, built without copying the parts every node shares
// (the ipcache, the namespaces) into messages: they follow the node's own parts as the bytes
// they were encoded to once. Protobuf parses an embedded message field met twice as the merge
// of both, and a message's encoding followed by another's as their merge, so both parse to
// exactly FullUpdate(s) (tests/unit/node_state_test.cc).
// The Sync stream's message: `r->update()` holds the node's own parts; the shared parts follow
// as further occurrences of the `update` field (held as unknown fields, written as they are).
void FullResponseForWire(const NodeState& s, v1::SyncResponse* r);
// An encoded v1::Update.
std::string EncodedFullUpdate(const NodeState& s);

// Applies an update received from the wire. Checks it completely first (version sequence,
// field ranges, references to port sets); on any error `state` is left unchanged and the error
// names the field, so the client can NACK and keep enforcing what it has. FailedPrecondition:
// a delta on a version the client does not hold (resubscribe).
absl::Status ApplyUpdate(const v1::Update& u, NodeState* state);

}  // namespace warden::nodestate
