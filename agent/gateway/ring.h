// One worker's event loop: an io_uring ring through which every socket operation of the worker's
// connections goes. Operations are queued as the coroutines ask for them and submitted together
// with the wait for completions: one system call for many connections' sends and receives, where
// each used to pay a call of its own (what a send does in TCP remains). Receives can take their
// buffer from a pool the kernel picks from only when bytes arrive, so an idle connection holds
// none. Deadlines are checked by a sweep every 100 ms: a late operation is cancelled and ends in
// -ETIMEDOUT. Single-threaded: only Post and Stop may be called from another thread.
#pragma once

#include <liburing.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_set>
#include <vector>

#include "absl/status/statusor.h"

namespace warden::gateway {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;
inline constexpr Deadline kNoDeadline = Deadline::max();
namespace ring_detail {
// The time the ring's loop last woke: deadlines are swept every 100 ms, so the clock need not be
// read for each operation.
inline thread_local Deadline now{};
}  // namespace ring_detail
inline Deadline In(std::chrono::milliseconds d) {
  const Deadline n = ring_detail::now;
  return (n == Deadline{} ? Clock::now() : n) + d;
}

class Ring;

// A buffer of the ring's pool (or, when the pool is empty, of the heap), given back when dropped.
class RingBuffer {
 public:
  RingBuffer() = default;
  RingBuffer(RingBuffer&& o) noexcept { *this = std::move(o); }
  RingBuffer& operator=(RingBuffer&& o) noexcept;
  ~RingBuffer() { Release(); }
  char* data() const { return data_; }
  bool empty() const { return data_ == nullptr; }
  void Release();

 private:
  friend class Ring;
  Ring* ring_ = nullptr;
  char* data_ = nullptr;
  int id_ = -1;  // the pool's buffer id, -1 for a heap buffer
};

class Ring {
 public:
  struct Options {
    unsigned entries = 1024;     // submission queue slots
    unsigned buffers = 512;      // pooled receive buffers (a power of two)
    size_t buffer_size = 16384;  // one TLS record's worth
  };
  static absl::StatusOr<std::unique_ptr<Ring>> Create(Options o);
  ~Ring();
  Ring(const Ring&) = delete;

  // An operation: co_await it for the result, bytes or a new descriptor (>= 0) or -errno;
  // -ETIMEDOUT when its deadline passed first.
  class Op {
   public:
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h);
    int await_resume() const noexcept;

   private:
    friend class Ring;
    enum class Kind : uint8_t { kRecv, kRecvPooled, kSend, kConnect, kAccept, kSleep };
    Op(Ring* r, Kind k, int fd, Deadline d) : ring_(r), kind_(k), fd_(fd), deadline_(d) {}
    Ring* ring_;
    Kind kind_;
    int fd_;
    Deadline deadline_;
    void* buf_ = nullptr;
    size_t len_ = 0;
    const sockaddr* addr_ = nullptr;
    socklen_t addrlen_ = 0;
    __kernel_timespec ts_{};
    std::coroutine_handle<> h_;
    int res_ = 0;
    uint32_t flags_ = 0;
    bool timed_out_ = false;
    bool idle_ = false;   // a wait between requests: ended at once when the ring drains
    Op* prev_ = nullptr;  // the list of operations with a deadline (or idle)
    Op* next_ = nullptr;
    bool listed_ = false;
  };

  Op Recv(int fd, void* buf, size_t n, Deadline d);
  Op Send(int fd, const void* buf, size_t n, Deadline d);
  Op Connect(int fd, const sockaddr* a, socklen_t len, Deadline d);
  Op Accept(int fd);  // ended when the ring drains
  Op Sleep(std::chrono::milliseconds d);

  // Receives into a pooled buffer: `out` holds the bytes (the result counts them) until dropped.
  class PooledRecv {
   public:
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) { op_.await_suspend(h); }
    int await_resume();

   private:
    friend class Ring;
    PooledRecv(Ring* r, int fd, Deadline d, RingBuffer* out, bool own, bool idle);
    Op op_;
    RingBuffer* out_;
  };
  // -ENOBUFS when the pool is empty: RecvOwn then receives into a buffer of its own. `idle`: a
  // wait for a next request, which a draining ring ends (-ECANCELED).
  PooledRecv RecvPooled(int fd, Deadline d, RingBuffer* out, bool idle = false) {
    return {this, fd, d, out, false, idle};
  }
  PooledRecv RecvOwn(int fd, Deadline d, RingBuffer* out, bool idle = false) {
    return {this, fd, d, out, true, idle};
  }
  size_t buffer_size() const { return o_.buffer_size; }

  // Runs `fn` on the ring's thread (from any thread).
  void Post(std::function<void()> fn);
  // The same for the ring with this id, if it still exists (else `fn` is dropped).
  static void PostTo(uint64_t id, std::function<void()> fn);
  uint64_t id() const { return id_; }
  // Runs until Stop(), then drains: accepts and idle waits end at once (tasks finish what they
  // are doing and close), and every task counted by TaskCount has `grace` to end. Then every
  // socket is shut down and every operation cancelled, and the tasks have 1 s more. `on_stop`
  // runs once, on the ring's thread, when the stop is seen. An error: the ring failed and serves
  // nothing more.
  absl::Status Run(std::function<void()> on_stop, std::chrono::milliseconds grace);
  void Stop();  // from any thread
  // Ends every operation waiting on `fd` (with -ECANCELED).
  void Cancel(int fd);
  bool stopping() const { return stopping_; }

  // Counts a running task (Run waits for them when stopping).
  struct TaskCount {
    explicit TaskCount(Ring* r) : r(r) { ++r->tasks_; }
    ~TaskCount() { --r->tasks_; }
    Ring* r;
  };
  // A socket of this ring's tasks: shut down when the ring stops, so what waits on it ends.
  void Track(int fd) { sockets_.insert(fd); }
  void Untrack(int fd) { sockets_.erase(fd); }

 private:
  friend class RingBuffer;
  explicit Ring(Options o) : o_(o) {}
  absl::Status Init();
  io_uring_sqe* Sqe();
  void Submit(Op* op);
  void Complete(const io_uring_cqe& cqe);
  void Sweep(Deadline now);
  void CancelOp(Op* op);  // its completion then says -ECANCELED (or what it did first)
  void CancelAll();
  void CancelIdle();
  void ArmWake();
  void GiveBack(int id);

  Options o_;
  uint64_t id_ = 0;
  io_uring ring_{};
  bool ring_ok_ = false;
  io_uring_buf_ring* br_ = nullptr;
  char* pool_ = nullptr;
  size_t br_bytes_ = 0;
  int wake_fd_ = -1;
  uint64_t wake_value_ = 0;
  std::mutex mu_;
  std::vector<std::function<void()>> posted_;
  std::atomic<bool> stop_{false};
  bool stopping_ = false;  // draining, then cutting
  bool cutting_ = false;
  int tasks_ = 0;
  Op* listed_ = nullptr;  // operations with a deadline
  std::unordered_set<int> sockets_;
};

}  // namespace warden::gateway
