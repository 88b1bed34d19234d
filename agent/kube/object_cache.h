// The objects every kind's reflector has seen, by API path, and whether each kind has been
// listed once: the control plane compiles nothing before every kind is (a cluster read half way
// would miss NetworkPolicies and open what they close). One writer per kind; readers take a
// consistent copy.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "agent/policy/manifest_assembly.h"

namespace warden::kube {

class ObjectCache {
 public:
  // A kind whose objects will come (before any reflector starts).
  void Expect(const std::string& kind);
  // Every object of `kind` now (a list, or a watch-list's initial events): replaces what was.
  void Replace(const std::string& kind, std::map<std::string, policy::Text> objects);
  // One object added or changed (`text`), or gone (null).
  void Put(const std::string& kind, const std::string& path, policy::Text text);

  // Every object, sorted by path.
  policy::Texts All() const;
  // Kinds not listed yet.
  std::vector<std::string> Unsynced() const;
  // Counts changes; WaitChange blocks until it differs from `seen` (or `deadline`, or Wake).
  uint64_t changes() const;
  uint64_t WaitChange(uint64_t seen, std::chrono::steady_clock::time_point deadline);
  void Wake();

 private:
  struct Kind {
    bool synced = false;
    std::map<std::string, policy::Text> objects;
  };
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Kind> kinds_;
  uint64_t changes_ = 0;
  bool woken_ = false;
};

}  // namespace warden::kube
