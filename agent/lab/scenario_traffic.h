// The reference scenario's traffic (deploy/examples/reference; scripts/demo's rows), as a run
// that keeps trying it reads it: who sends what, whether the scenario permits it, and where the
// receiving side would log it if it arrived.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/lab/lab_state.h"
#include "agent/lab/probe.h"

namespace warden::lab {

struct TrafficRow {
  enum class Kind { kTcp, kUdp, kHttp };
  std::string label;  // the demo's row: "1", "7 v6", "14b"
  std::string from;   // "ns/pod" or "node:NAME"
  Kind kind = Kind::kTcp;
  std::string to;  // a pod or an address
  int family = 4;
  int port = 0;
  // kHttp: a plain-HTTP request the node's forwarder carries to the gateway. The path's query
  // ("?row=2") names the row in nginx's log, which sees only the gateway as the client.
  std::string host, path;
  bool permitted = false;
  int status = 0;  // kHttp: the status a permitted request gets from the upstream
};

// Rows 1-14b of the demo (7-14 for both families), each in one direction.
const std::vector<TrafficRow>& ReferenceTraffic();

// Whether an attempt got through to the receiving side: the echo came back (TCP, UDP); a
// permitted request got its status; a denied request got an upstream's answer (a 2xx, or
// httpbin's teapot, 418) instead of the gateway's refusal or an error.
bool GotThrough(const TrafficRow& row, const ProbeResult& result);

// The lines of the receiving side's log that show `row` arriving: the file (under the state
// directory's logs) and the text each such line holds. Empty when the lab does not hold the
// row's pods (manifests other than the reference).
struct Receiver {
  std::string log;                 // absolute path
  std::vector<std::string> lines;  // a line counts when it holds any of these
};
absl::StatusOr<Receiver> ReceiverOf(const LabState& lab, const std::string& state_dir,
                                    const TrafficRow& row);

}  // namespace warden::lab
