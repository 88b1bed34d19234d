#include "tests/e2e/verdict_log_check.h"

#include <unistd.h>

#include <chrono>
#include <fstream>

#include <nlohmann/json.hpp>

namespace warden::e2e {

std::string FindRefusal(const std::string& state_dir, const Refusal& r, int wait_ms) {
  const std::string path = state_dir + "/logs/" + r.node + "-verdicts.jsonl";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  std::string of_pod;
  while (true) {
    of_pod.clear();
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (!j.is_object()) continue;
      if (j.value("namespace", "") + "/" + j.value("pod", "") != r.pod) continue;
      of_pod += "    " + line + "\n";
      const bool egress = j.value("direction", "") == "egress";
      const std::string peer = j.value(egress ? "dst" : "src", "");
      if (j.value("verdict", "") == "deny" && j.value("reason", "") == r.reason &&
          (r.peer.empty() || peer == r.peer) &&
          (r.peer_port == 0 || j.value(egress ? "dport" : "sport", 0) == r.peer_port) &&
          (r.protocol.empty() || j.value("protocol", "") == r.protocol))
        return "";
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    usleep(100000);
  }
  if (of_pod.size() > 4000) of_pod = "    ...\n" + of_pod.substr(of_pod.size() - 4000);
  return "no " + r.reason + " refusal of " + r.pod + (r.peer.empty() ? "" : " with " + r.peer) +
         " in " + path + "; its lines for the pod:\n" + of_pod;
}

}  // namespace warden::e2e
