// Running commands and the warden binary from end-to-end tests.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace warden::e2e {

struct Result {
  int code = -1;
  std::string out, err;
};

// Runs `cmd` with /bin/sh; stdout and stderr captured separately.
inline Result Sh(const std::string& cmd) {
  static int seq = 0;
  std::filesystem::path err_file =
      std::filesystem::temp_directory_path() /
      ("warden-e2e-err-" + std::to_string(getpid()) + "-" + std::to_string(++seq));
  std::string full = cmd + " 2>" + err_file.string();
  Result r;
  FILE* p = popen(full.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(err_file);
  r.err.assign(std::istreambuf_iterator<char>(in), {});
  std::filesystem::remove(err_file);
  return r;
}

inline std::string WardenBin() { return std::string(WARDEN_BINARY_DIR) + "/bin/warden"; }

inline Result Warden(const std::string& args) { return Sh(WardenBin() + " " + args); }

}  // namespace warden::e2e
