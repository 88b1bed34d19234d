#include "tests/lib/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <stdexcept>
#include <thread>

#include "agent/common/cgroup.h"
#include "agent/common/netns.h"

namespace warden::testlib {

int RunInChild(const std::string& cgroup, const std::string& netns,
               const std::function<int()>& fn) {
  int p[2];
  if (pipe(p) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    int r = -1;
    if (common::MoveToCgroup(cgroup, getpid()).ok() && common::EnterNetns(netns).ok()) r = fn();
    _exit(write(p[1], &r, sizeof(r)) == sizeof(r) ? 0 : 1);
  }
  close(p[1]);
  int r = -1;
  if (pid < 0 || read(p[0], &r, sizeof(r)) != sizeof(r)) r = -1;
  close(p[0]);
  if (pid > 0) waitpid(pid, nullptr, 0);
  return r;
}

pid_t StartParked(const std::function<bool()>& setup) {
  int ready[2];
  if (pipe(ready) != 0) return -1;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    close(ready[0]);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    char c = setup() ? '1' : '0';
    if (write(ready[1], &c, 1) != 1) _exit(1);
    pause();
    _exit(0);
  }
  close(ready[1]);
  char c = '0';
  if (read(ready[0], &c, 1) != 1 || c != '1') {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    pid = -1;
  }
  close(ready[0]);
  return pid;
}

pid_t Spawn(const std::vector<std::string>& argv, const std::string& log) {
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork");
  if (pid > 0) return pid;
  prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive the parent
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd >= 0) {
    dup2(fd, 1);
    dup2(fd, 2);
  }
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull >= 0) dup2(devnull, 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execv(args[0], args.data());
  _exit(127);
}

bool Exited(pid_t pid) {
  int status;
  return waitpid(pid, &status, WNOHANG) == pid;
}

void EndChild(pid_t pid, std::chrono::milliseconds grace) {
  if (pid <= 0) return;
  if (waitpid(pid, nullptr, WNOHANG) == pid) return;
  kill(pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

std::string LogTail(const std::string& path, int lines) {
  std::ifstream in(path);
  std::vector<std::string> all;
  std::string l;
  while (std::getline(in, l)) all.push_back(l);
  std::string out;
  size_t first = all.size() > static_cast<size_t>(lines) ? all.size() - lines : 0;
  for (size_t i = first; i < all.size(); ++i) out += "    " + all[i] + "\n";
  return out;
}

}  // namespace warden::testlib
