#include "agent/lab/lab_exec.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/lab/probe.h"

namespace warden::lab {
namespace {

// What SIGINT and SIGQUIT did in the caller, for the command (as system(3) gives them back).
struct CallerSignals {
  struct sigaction interrupt, quit;
};

// In the child: enter the place, limit the capabilities, execute. A failure before execvp is
// written to `report` (the parent turns it into an error); execvp's own failure is the
// command's (127, as a shell).
[[noreturn]] void ExecChild(const ExecPlace& place, const std::vector<std::string>& argv,
                            const CallerSignals& caller, int report) {
  absl::Status st = EnterPlace(place.cgroup, place.netns);
  if (st.ok() && place.capabilities) st = common::KeepOnlyCapabilities(*place.capabilities);
  if (!st.ok()) {
    std::string msg(st.message());
    (void)!write(report, msg.data(), msg.size());
    _exit(127);
  }
  sigaction(SIGINT, &caller.interrupt, nullptr);
  sigaction(SIGQUIT, &caller.quit, nullptr);
  // Only stdin, stdout and stderr pass, as into a container (`report` closes at execve too).
  close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execvp(args[0], args.data());
  std::fprintf(stderr, "%s: %s\n", args[0], std::strerror(errno));
  _exit(127);
}

}  // namespace

absl::StatusOr<int> RunIn(const ExecPlace& place, const std::vector<std::string>& argv) {
  if (argv.empty()) return absl::InvalidArgumentError("no command to run");
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0)
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  struct sigaction ignore = {};
  ignore.sa_handler = SIG_IGN;
  CallerSignals caller;
  sigaction(SIGINT, &ignore, &caller.interrupt);
  sigaction(SIGQUIT, &ignore, &caller.quit);
  pid_t pid = fork();
  if (pid == 0) {
    close(report[0]);
    ExecChild(place, argv, caller, report[1]);
  }
  int fork_errno = errno;
  close(report[1]);
  std::string failure;
  char buf[256];
  ssize_t n;
  // The pipe closes at the child's execve (O_CLOEXEC) or exit.
  while (pid > 0 && (n = read(report[0], buf, sizeof(buf))) != 0) {
    if (n > 0) failure.append(buf, static_cast<size_t>(n));
    if (n < 0 && errno != EINTR) break;
  }
  close(report[0]);
  int status = 0;
  while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  sigaction(SIGINT, &caller.interrupt, nullptr);
  sigaction(SIGQUIT, &caller.quit, nullptr);
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(fork_errno)));
  if (!failure.empty()) return absl::InternalError(failure);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

}  // namespace warden::lab
