// The leaf helpers: atomic file writes, directory watches, log levels, copy-on-write sharing,
// deferred release. No root.
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <filesystem>

#include <gtest/gtest.h>

#include "agent/common/deferred_release.h"
#include "agent/common/dir_watch.h"
#include "agent/common/files.h"
#include "agent/common/log.h"
#include "agent/common/shared.h"

namespace warden::common {
namespace {

namespace fs = std::filesystem;

TEST(FilesTest, AtomicWritesReplaceWholeFilesAndLeaveNoTemporary) {
  fs::path dir = fs::temp_directory_path() / ("warden-files-test-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "state").string();
  EXPECT_EQ(ReadFile(path).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(WriteFileAtomically(path, std::string("first\0with a NUL", 16)).ok());
  EXPECT_EQ(*ReadFile(path), std::string("first\0with a NUL", 16));
  ASSERT_TRUE(WriteFileAtomically(path, "second").ok());
  EXPECT_EQ(*ReadFile(path), "second");
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  absl::Status st = WriteFileAtomically((dir / "no-such-dir" / "f").string(), "x");
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("no-such-dir"), std::string::npos) << st;
  fs::remove_all(dir);
}

// What a manifests directory may hold besides files and directories (a symlink loop, a FIFO)
// must not break watching it: a symlink loop once made Open throw, ending `warden control`.
TEST(DirWatchTest, SymlinkLoopsAndFifosAreNoObstacle) {
  fs::path dir = fs::temp_directory_path() / ("warden-watch-test-" + std::to_string(getpid()));
  fs::create_directories(dir / "sub");
  fs::create_symlink("loop", dir / "loop");
  ASSERT_EQ(mkfifo((dir / "fifo.yaml").c_str(), 0644), 0);
  ASSERT_TRUE(WriteFileAtomically((dir / "sub" / "a.yaml").string(), "a").ok());
  absl::StatusOr<DirWatch> watch = DirWatch::Open(dir.string());
  ASSERT_TRUE(watch.ok()) << watch.status();
  const std::string before = DirFingerprint(dir.string());
  EXPECT_NE(before.find("sub/a.yaml"), std::string::npos) << before;
  EXPECT_EQ(before.find("fifo.yaml"), std::string::npos) << before;
  ASSERT_TRUE(WriteFileAtomically((dir / "sub" / "b.yaml").string(), "b").ok());
  EXPECT_TRUE(watch->Wait(5000));
  EXPECT_NE(DirFingerprint(dir.string()), before);
  fs::remove_all(dir);
}

TEST(LogTest, LevelsParseAndUnknownOnesAreErrors) {
  EXPECT_EQ(*ParseLogLevel("debug"), LogLevel::kDebug);
  EXPECT_EQ(*ParseLogLevel("info"), LogLevel::kInfo);
  EXPECT_EQ(*ParseLogLevel("warning"), LogLevel::kWarning);
  EXPECT_EQ(*ParseLogLevel("error"), LogLevel::kError);
  absl::StatusOr<LogLevel> bad = ParseLogLevel("loud");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("--log-level"), std::string::npos);
}

TEST(LogTest, LinesBelowTheLevelAreDropped) {
  Logger log("test component");
  ::testing::internal::CaptureStderr();
  SetLogLevel(LogLevel::kWarning);
  log.Info("quiet ", 1);
  log.Warning("loud ", 2);
  SetLogLevel(LogLevel::kInfo);
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(err.find("quiet"), std::string::npos) << err;
  EXPECT_NE(err.find("test component: loud 2\n"), std::string::npos) << err;
  EXPECT_EQ(err[0], 'W') << err;
}

TEST(SharedTest, WritesCopyOnlyWhatOthersHold) {
  Shared<std::vector<int>> a(std::vector<int>{1, 2});
  const std::vector<int>* alone = &*a;
  a.Mut().push_back(3);
  EXPECT_EQ(&*a, alone) << "a value nobody else holds is written in place";
  Shared<std::vector<int>> b = a;
  EXPECT_TRUE(a.SameObject(b));
  b.Mut().push_back(4);
  EXPECT_FALSE(a.SameObject(b));
  EXPECT_EQ(*a, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(*b, (std::vector<int>{1, 2, 3, 4}));
  // A pin keeps the value shared: the next write copies it.
  std::shared_ptr<const std::vector<int>> pin = a.Pin();
  a.Mut().push_back(5);
  EXPECT_EQ(*pin, (std::vector<int>{1, 2, 3}));
  EXPECT_NE(pin, a.Pin());
}

// Records the thread and its nice value at destruction.
struct Witness {
  Witness(std::atomic<pid_t>* t, std::atomic<int>* n) : tid(t), nice(n) {}
  std::atomic<pid_t>* tid;
  std::atomic<int>* nice;
  ~Witness() {
    *tid = gettid();
    *nice = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
  }
};

TEST(DeferredReleaseTest, TheLastReferenceIsDroppedOnTheLowPriorityThread) {
  std::atomic<pid_t> tid{0};
  std::atomic<int> nice{-100};
  const int mine = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
  DeferredRelease release;
  auto w = std::make_shared<Witness>(&tid, &nice);
  std::shared_ptr<Witness> other = w;
  release.Release(std::move(w));
  release.Drain();
  EXPECT_EQ(tid, 0) << "another holder kept it: not freed yet";
  release.Release(std::move(other));
  release.Drain();
  EXPECT_NE(tid, 0);
  EXPECT_NE(tid, gettid()) << "freed on the caller's thread";
  EXPECT_EQ(nice, 19);
  EXPECT_EQ(getpriority(PRIO_PROCESS, static_cast<id_t>(gettid())), mine)
      << "only the release thread's priority is lowered";
}

// Blocks its release until told to go.
struct Gate {
  std::atomic<bool>* entered;
  std::atomic<bool>* go;
  Gate(std::atomic<bool>* e, std::atomic<bool>* g) : entered(e), go(g) {}
  ~Gate() {
    *entered = true;
    while (!*go) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
};

TEST(DeferredReleaseTest, AStarvedThreadsBacklogIsFreedByTheCaller) {
  std::atomic<bool> entered{false}, go{false};
  DeferredRelease release(/*backlog=*/2);
  release.Release(std::make_shared<Gate>(&entered, &go));
  while (!entered) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::atomic<pid_t> t1{0}, t2{0}, t3{0};
  std::atomic<int> nice{0};
  release.Release(std::make_shared<Witness>(&t1, &nice));
  release.Release(std::make_shared<Witness>(&t2, &nice));
  EXPECT_EQ(t1, 0);
  EXPECT_EQ(t2, 0);
  release.Release(std::make_shared<Witness>(&t3, &nice));
  EXPECT_EQ(t3, gettid()) << "past the backlog the caller frees";
  go = true;
  release.Drain();
  EXPECT_NE(t1, 0);
  EXPECT_NE(t1, gettid());
  EXPECT_NE(t2, gettid());
}

TEST(DeferredReleaseTest, WhatIsQueuedAtDestructionIsStillFreed) {
  std::atomic<pid_t> tid{0};
  std::atomic<int> nice{0};
  {
    DeferredRelease release;
    for (int i = 0; i < 100; ++i) release.Release(std::make_shared<int>(i));
    release.Release(std::make_shared<Witness>(&tid, &nice));
  }
  EXPECT_NE(tid, 0);
}

}  // namespace
}  // namespace warden::common
