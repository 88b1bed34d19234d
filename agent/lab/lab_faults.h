// Faults under continuous traffic: while every row of the reference scenario keeps being tried
// from its pod or node, the control plane, one agent and one gateway replica are each killed
// with SIGKILL and started again. What it proves: nothing the scenario denies ever gets through
// (counted from the senders' side and from the receivers' own logs), and permitted traffic
// resumes; and how long permitted traffic was interrupted by each fault.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace warden::lab {

struct FaultsOptions {
  std::string state_dir = "/run/warden-lab";
  int interval_ms = 300;   // between two attempts of one row
  int timeout_ms = 1000;   // one attempt
  int down_ms = 3000;      // how long a killed process stays dead before it is started again
  int settle_ms = 2000;    // traffic before the first fault
  int recover_ms = 90000;  // how long permitted traffic may take to resume after a restart
  std::ostream* progress = nullptr;
};

struct FaultReport {
  std::string name;             // "control plane", "agent of default-1", ...
  int64_t restarted_ms = 0;     // from the kill until the process was started again
  int64_t recovered_ms = -1;    // from the kill until every permitted row got through again
  int64_t interrupted_ms = 0;   // the longest run of failed attempts of one permitted row
  std::string interrupted_row;  // that row ("" when none failed)
  int permitted_ok = 0;         // attempts during the fault (kill until recovered)
  int permitted_failed = 0;
  int denied_refused = 0;
  int denied_passed = 0;  // a denied attempt that got through: must stay 0
};

// What the receiving side of one row logged during the run.
struct ReceiverCount {
  std::string row;
  bool permitted = false;
  std::string log;
  int64_t lines = 0;
};

struct FaultsReport {
  std::vector<FaultReport> faults;
  int attempts = 0;
  int denied_attempts = 0;
  int denied_passed = 0;  // over the whole run, senders' side
  std::vector<std::string> denied_passed_rows;
  std::vector<ReceiverCount> receivers;
  // Nothing denied got through on either side, every fault recovered, and every permitted row
  // was seen arriving by its receiver (so the receivers' logs are known to work).
  bool ok() const;
};

absl::StatusOr<FaultsReport> LabFaults(const FaultsOptions& options);

std::string FaultsText(const FaultsReport& report);
nlohmann::json FaultsJson(const FaultsReport& report);

}  // namespace warden::lab
