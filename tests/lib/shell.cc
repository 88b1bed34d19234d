#include "tests/lib/shell.h"

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace warden::testlib {

ShellResult Sh(const std::string& cmd) {
  static std::atomic<int> seq{0};
  std::filesystem::path err_file =
      std::filesystem::temp_directory_path() /
      ("warden-sh-err-" + std::to_string(getpid()) + "-" + std::to_string(++seq));
  // A group, so that the command's own redirections of stderr win over the capture.
  std::string full = "{ " + cmd + "\n} 2>" + err_file.string();
  ShellResult r;
  FILE* p = popen(full.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(err_file);
  r.err.assign(std::istreambuf_iterator<char>(in), {});
  std::error_code ec;
  std::filesystem::remove(err_file, ec);
  return r;
}

void MustSh(const std::string& cmd) {
  ShellResult r = Sh(cmd);
  if (r.code != 0) {
    throw std::runtime_error("command failed (exit " + std::to_string(r.code) + "): " + cmd + "\n" +
                             r.out + r.err);
  }
}

std::string ShOut(const std::string& cmd) {
  std::string out = Sh(cmd).out;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace warden::testlib
