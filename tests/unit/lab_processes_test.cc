// `lab up` returns only once the lab's echo servers listen: a probe sent earlier is refused (the
// matrix then reports a pod that serves as one that does not).
#include "agent/lab/lab_processes.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "tests/lib/child_process.h"

namespace warden::lab {
namespace {

using ::testing::HasSubstr;

std::string ScratchLog(const std::string& name) {
  return ::testing::TempDir() + "/lab_processes_test-" + std::to_string(getpid()) + "-" + name;
}

bool LogSaysServing(const std::string& log) {
  std::ifstream in(log);
  std::string line;
  while (std::getline(in, line))
    if (line == "serving") return true;
  return false;
}

TEST(WaitForServersTest, ReturnsOnceEveryServerHasSaidItListens) {
  std::string fast = ScratchLog("fast.log"), slow = ScratchLog("slow.log");
  pid_t a = testlib::Spawn({"/bin/sh", "-c", "echo serving; exec sleep 30"}, fast);
  pid_t b = testlib::Spawn(
      {"/bin/sh", "-c", "echo starting; sleep 0.4; echo serving; exec sleep 30"}, slow);
  auto t0 = std::chrono::steady_clock::now();
  absl::Status s = WaitForServers({{a, fast}, {b, slow}});
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_TRUE(LogSaysServing(slow)) << "returned before the slow server listened";
  EXPECT_GE(waited, std::chrono::milliseconds(300));
  testlib::EndChild(a);
  testlib::EndChild(b);
  unlink(fast.c_str());
  unlink(slow.c_str());
}

TEST(WaitForServersTest, AServerThatExitsIsAnErrorNamingItsLog) {
  std::string log = ScratchLog("dead.log");
  pid_t a = testlib::Spawn({"/bin/sh", "-c", "echo 'TCP port 80: Address in use'; exit 1"}, log);
  absl::Status s = WaitForServers({{a, log}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_THAT(s.message(), HasSubstr(log));
  unlink(log.c_str());
}

}  // namespace
}  // namespace warden::lab
