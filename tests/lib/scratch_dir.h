// A directory a test or benchmark owns (a temporary directory, a bpffs directory of pins): removed
// with everything in it when the owner goes. Removing pinned links detaches their programs.
#pragma once

#include <string>

namespace warden::testlib {

class ScratchDir {
 public:
  enum class Make { kNow, kLater };  // kLater: whoever writes there makes it (BpfDatapath::Open)

  ScratchDir() = default;
  // Throws std::runtime_error when `make` is kNow and the directory cannot be made.
  explicit ScratchDir(std::string path, Make make = Make::kNow);
  ScratchDir(ScratchDir&& other) noexcept;
  ScratchDir& operator=(ScratchDir&& other) noexcept;
  ~ScratchDir() { Remove(); }

  const std::string& path() const { return path_; }
  // Removes the directory now (a failure is printed to stderr).
  void Remove();

 private:
  std::string path_;
};

}  // namespace warden::testlib
