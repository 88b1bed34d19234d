// The agent's desired state from `warden control` over Sync (mutual TLS): each update is applied
// to the state held, enforced, and ACKed or NACKed (sync_client.h). What is in force is saved
// under the state directory, so that a restart with the control plane down comes back enforcing
// it.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "agent/common/log.h"
#include "agent/node/desired_source.h"
#include "agent/node/sync_client.h"

namespace warden::node {

class SyncSource : public DesiredStateSource {
 public:
  // Checks the options (the TLS files are required) and creates `state_dir`, which may be
  // empty: nothing is saved then.
  static absl::StatusOr<std::unique_ptr<SyncSource>> Create(SyncClientOptions opts,
                                                            std::string state_dir);
  ~SyncSource() override;

  std::optional<nodestate::NodeState> Initial() override;
  void Start(Enforce enforce) override;
  void Stop() override;
  void AppendMetrics(const std::string& labels, std::string* out) const override;

 private:
  SyncSource(SyncClientOptions opts, std::string state_dir);
  std::string StatePath() const;
  // Saves the newest state in force off the update path: after a short delay (updates come in
  // bursts), from its own thread, so that the ACK and the next update do not wait for it.
  void Save(const nodestate::NodeState& s);
  void SaveLoop();

  SyncClientOptions opts_;
  std::string state_dir_;
  common::Logger log_;
  nodestate::NodeState held_;  // until Start(): the saved state
  std::unique_ptr<SyncClient> client_;
  std::mutex save_mu_;
  std::condition_variable save_cv_;
  std::optional<nodestate::NodeState> to_save_;
  bool save_stop_ = false;
  std::thread saver_;
};

}  // namespace warden::node
