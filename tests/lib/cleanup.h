// An undo stack: what a test or benchmark set up, undone last-in first-out when the stack goes
// (also while unwinding from a failure). An undo that throws is reported and the rest still run.
#pragma once

#include <cstdio>
#include <exception>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace warden::testlib {

class Cleanup {
 public:
  Cleanup() = default;
  Cleanup(const Cleanup&) = delete;
  Cleanup& operator=(const Cleanup&) = delete;
  ~Cleanup() { RunAll(); }

  // `what` names the undo in the message printed when it fails.
  void Add(std::string what, std::function<void()> fn) {
    fns_.push_back({std::move(what), std::move(fn)});
  }

  void RunAll() {
    while (!fns_.empty()) {
      auto f = std::move(fns_.back());
      fns_.pop_back();
      try {
        f.second();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "cleanup (%s): %s\n", f.first.c_str(), e.what());
      }
    }
  }

 private:
  std::vector<std::pair<std::string, std::function<void()>>> fns_;
};

}  // namespace warden::testlib
