// The lab that the attack suites attack: the reference scenario, its pods made dual-stack (an
// IPv6 address beside each IPv4 one, so IPv6 attacks have a source), brought up once per suite
// and taken down after it. Attacks run as `warden lab exec --in PLACE -- wl_attack ...`: inside
// a pod with a container's default capabilities (NET_RAW, not NET_ADMIN) unless privileged.
#pragma once

#include <functional>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/e2e/capture.h"
#include "tests/e2e/e2e_util.h"

namespace warden::e2e {

class AttackLab : public ::testing::Test {
 public:
  static void SetUpTestSuite();
  static void TearDownTestSuite();

 protected:
  void SetUp() override;

  // The lab's record of pod `key` ("ns/name"): ip, ip6, netns, cgroup, node.
  static const nlohmann::json& Pod(const std::string& key);
  static std::string InternetNetns();
  static std::string NodeNetns(const std::string& node);
  static const std::string& StateDir() { return state_; }

  // Runs wl_attack `args` in `place` (NS/POD, node:NAME or internet) and returns what it printed.
  static Result Attack(const std::string& place, const std::string& args, bool privileged = false);
  // Runs wl_attack `args` in `place` while recording in network namespace `netns`; returns
  // what the attacker printed and the description of every packet recorded there that `match`
  // picks (empty: nothing arrived).
  struct Watched {
    Result attacker;
    std::string arrived;
  };
  static Watched AttackAndWatch(const std::string& place, const std::string& args,
                                const std::string& netns,
                                const std::function<bool(const SeenPacket&)>& match,
                                bool privileged = false);
  // A marker no other packet carries: this test's name and a counter.
  static std::string Marker(const std::string& what);

 private:
  static std::string dir_, state_, up_error_;
  static nlohmann::json lab_;
};

}  // namespace warden::e2e
