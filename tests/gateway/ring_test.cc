// The gateway's event loop on its own, with real sockets: deadlines, work posted from other
// threads, the receive pool running dry, and stopping while operations wait.
#include "agent/gateway/ring.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <thread>
#include <vector>

#include "agent/gateway/task.h"
#include "gtest/gtest.h"

namespace warden::gateway {
namespace {

struct Pair {
  int fd[2] = {-1, -1};
  Pair() { EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fd), 0); }
  ~Pair() {
    close(fd[0]);
    close(fd[1]);
  }
};

std::unique_ptr<Ring> MakeRing(unsigned buffers = 8) {
  Ring::Options o;
  o.buffers = buffers;
  o.buffer_size = 4096;
  auto r = Ring::Create(o);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *std::move(r) : nullptr;
}

TEST(RingTest, AnOperationPastItsDeadlineEndsWithETIMEDOUT) {
  auto ring = MakeRing();
  ASSERT_TRUE(ring);
  Pair p;
  char buf[16];
  int result = 1, late = 1;
  auto task = [&]() -> Task<void> {
    Ring::TaskCount counted(ring.get());
    result = co_await ring->Recv(p.fd[0], buf, sizeof(buf), In(std::chrono::milliseconds(50)));
    // A deadline far away does not fire: the bytes written meanwhile arrive.
    (void)!write(p.fd[1], "x", 1);
    late = co_await ring->Recv(p.fd[0], buf, sizeof(buf), In(std::chrono::seconds(30)));
    ring->Stop();
  };
  Spawn(task());
  ASSERT_TRUE(ring->Run(nullptr, std::chrono::seconds(1)).ok());
  EXPECT_EQ(result, -ETIMEDOUT);
  EXPECT_EQ(late, 1);
}

TEST(RingTest, PostedWorkRunsOnTheRingsThread) {
  auto ring = MakeRing();
  ASSERT_TRUE(ring);
  std::thread::id ran_on;
  std::thread other([&] {
    ring->Post([&] {
      ran_on = std::this_thread::get_id();
      ring->Stop();
    });
  });
  ASSERT_TRUE(ring->Run(nullptr, std::chrono::seconds(1)).ok());
  other.join();
  EXPECT_EQ(ran_on, std::this_thread::get_id());
  // A ring that is gone is not posted to.
  const uint64_t id = ring->id();
  ring.reset();
  bool ran = false;
  Ring::PostTo(id, [&] { ran = true; });
  EXPECT_FALSE(ran);
}

TEST(RingTest, WhenThePoolIsHeldReceivesTakeBuffersOfTheirOwn) {
  auto ring = MakeRing(/*buffers=*/2);
  ASSERT_TRUE(ring);
  Pair p[3];
  for (auto& q : p) ASSERT_EQ(write(q.fd[1], "abc", 3), 3);
  std::vector<RingBuffer> held(3);
  std::vector<int> pooled(3, 0);
  std::vector<std::string> got(3);
  int done = 0, after = 0;
  auto last = [&]() -> Task<void> {
    // Given back, the pool serves again.
    for (auto& b : held) b.Release();
    (void)!write(p[0].fd[1], "d", 1);
    RingBuffer b;
    after = co_await ring->RecvPooled(p[0].fd[0], kNoDeadline, &b);
    ring->Stop();
  };
  // (the closure outlives the coroutines: they reach its captures through it)
  auto task = [&](int i) -> Task<void> {
    Ring::TaskCount counted(ring.get());
    int r = co_await ring->RecvPooled(p[i].fd[0], kNoDeadline, &held[i]);
    pooled[i] = r;
    if (r == -ENOBUFS) r = co_await ring->RecvOwn(p[i].fd[0], kNoDeadline, &held[i]);
    if (r > 0) got[i].assign(held[i].data(), static_cast<size_t>(r));
    if (++done == 3) co_await last();
  };
  for (int i = 0; i < 3; ++i) Spawn(task(i));
  ASSERT_TRUE(ring->Run(nullptr, std::chrono::seconds(1)).ok());
  int dry = 0;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(got[i], "abc") << i;
    dry += pooled[i] == -ENOBUFS;
  }
  EXPECT_EQ(dry, 1) << "two buffers in the pool, three receives holding theirs";
  EXPECT_EQ(after, 1);
}

// Stopping drains: a wait for more work (idle) ends at once; an operation under way may still
// complete within the grace; what is left after it is cut.
TEST(RingTest, StoppingEndsIdleWaitsAtOnceAndCutsTheRestAfterTheGrace) {
  auto ring = MakeRing();
  ASSERT_TRUE(ring);
  Pair idle, busy, stuck;
  for (Pair* p : {&idle, &busy, &stuck}) ring->Track(p->fd[0]);
  int idle_result = 1, busy_result = 1, stuck_result = 1;
  char buf[16];
  RingBuffer held;
  auto waiter = [&]() -> Task<void> {
    Ring::TaskCount counted(ring.get());
    idle_result = co_await ring->RecvPooled(idle.fd[0], kNoDeadline, &held, /*idle=*/true);
  };
  auto worker = [&](Pair* p, int* result) -> Task<void> {
    Ring::TaskCount counted(ring.get());
    *result = co_await ring->Recv(p->fd[0], buf, sizeof(buf), kNoDeadline);
  };
  Spawn(waiter());
  Spawn(worker(&busy, &busy_result));
  Spawn(worker(&stuck, &stuck_result));
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ring->Stop();
    // Within the grace, the busy one's bytes arrive: it completes as it would have.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    (void)!write(busy.fd[1], "x", 1);
  });
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(ring->Run(nullptr, std::chrono::milliseconds(400)).ok());
  const auto took = std::chrono::steady_clock::now() - t0;
  stopper.join();
  EXPECT_EQ(idle_result, -ECANCELED) << "an idle wait ends when the ring drains";
  EXPECT_EQ(busy_result, 1) << "an operation under way completes within the grace";
  EXPECT_TRUE(stuck_result == 0 || stuck_result == -ECANCELED) << stuck_result;
  EXPECT_GE(took, std::chrono::milliseconds(400)) << "the stuck one had its grace";
  EXPECT_LT(took, std::chrono::seconds(3));
  for (Pair* p : {&idle, &busy, &stuck}) ring->Untrack(p->fd[0]);
}

}  // namespace
}  // namespace warden::gateway
