#include "tests/lib/scratch_dir.h"

#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <utility>

namespace warden::testlib {

ScratchDir::ScratchDir(std::string path, Make make) : path_(std::move(path)) {
  if (make == Make::kLater) return;
  std::error_code ec;
  std::filesystem::create_directories(path_, ec);
  if (ec) throw std::runtime_error("creating " + path_ + ": " + ec.message());
}

ScratchDir::ScratchDir(ScratchDir&& other) noexcept : path_(std::exchange(other.path_, "")) {}

ScratchDir& ScratchDir::operator=(ScratchDir&& other) noexcept {
  if (this != &other) {
    Remove();
    path_ = std::exchange(other.path_, "");
  }
  return *this;
}

void ScratchDir::Remove() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
  if (ec) std::fprintf(stderr, "cleanup: removing %s: %s\n", path_.c_str(), ec.message().c_str());
  path_.clear();
}

}  // namespace warden::testlib
