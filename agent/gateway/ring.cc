#include "agent/gateway/ring.h"

#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include "absl/strings/str_cat.h"

namespace warden::gateway {
namespace {

constexpr uint64_t kIgnore = 0;  // completions nobody waits for (cancellations)
constexpr uint64_t kWake = 1;    // the eventfd Post writes to
constexpr int kGroup = 0;        // the buffer group of the receive pool
constexpr auto kSweepEvery = std::chrono::milliseconds(100);

// The rings alive, by id (for PostTo from threads that may outlive a ring).
std::mutex g_rings_mu;
std::unordered_map<uint64_t, Ring*>& Rings() {
  static auto* m = new std::unordered_map<uint64_t, Ring*>();
  return *m;
}
uint64_t g_next_id = 1;

}  // namespace

RingBuffer& RingBuffer::operator=(RingBuffer&& o) noexcept {
  if (this != &o) {
    Release();
    ring_ = std::exchange(o.ring_, nullptr);
    data_ = std::exchange(o.data_, nullptr);
    id_ = std::exchange(o.id_, -1);
  }
  return *this;
}

void RingBuffer::Release() {
  if (!data_) return;
  if (id_ >= 0) {
    ring_->GiveBack(id_);
  } else {
    std::free(data_);
  }
  data_ = nullptr;
  id_ = -1;
  ring_ = nullptr;
}

absl::StatusOr<std::unique_ptr<Ring>> Ring::Create(Options o) {
  std::unique_ptr<Ring> r(new Ring(o));
  if (absl::Status s = r->Init(); !s.ok()) return s;
  std::lock_guard<std::mutex> l(g_rings_mu);
  r->id_ = g_next_id++;
  Rings()[r->id_] = r.get();
  return r;
}

absl::Status Ring::Init() {
  // One thread submits and reaps (SINGLE_ISSUER), and the kernel's completion work runs when it
  // waits (DEFER_TASKRUN), in one batch. Older kernels lack them: plain flags then.
  io_uring_params p{};
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  int rc = io_uring_queue_init_params(o_.entries, &ring_, &p);
  if (rc == -EINVAL) {
    p = {};
    rc = io_uring_queue_init_params(o_.entries, &ring_, &p);
  }
  if (rc < 0) return absl::UnavailableError(absl::StrCat("io_uring_setup: ", std::strerror(-rc)));
  ring_ok_ = true;
  wake_fd_ = eventfd(0, EFD_CLOEXEC);
  if (wake_fd_ < 0) return absl::UnavailableError(absl::StrCat("eventfd: ", std::strerror(errno)));
  ArmWake();

  // The receive pool: the kernel takes a buffer only when a receive has bytes for it.
  if (o_.buffers == 0) return absl::OkStatus();
  br_bytes_ = o_.buffers * sizeof(io_uring_buf);
  void* mem = mmap(nullptr, br_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) return absl::ResourceExhaustedError("mmap of the buffer ring failed");
  br_ = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(br_);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uintptr_t>(br_);
  reg.ring_entries = o_.buffers;
  reg.bgid = kGroup;
  rc = io_uring_register_buf_ring(&ring_, &reg, 0);
  if (rc < 0) {
    munmap(br_, br_bytes_);
    br_ = nullptr;  // no pool: receives use heap buffers
    return absl::OkStatus();
  }
  pool_ = static_cast<char*>(std::malloc(o_.buffers * o_.buffer_size));
  if (!pool_) return absl::ResourceExhaustedError("no memory for the receive buffers");
  const int mask = io_uring_buf_ring_mask(o_.buffers);
  for (unsigned i = 0; i < o_.buffers; ++i)
    io_uring_buf_ring_add(br_, pool_ + i * o_.buffer_size, o_.buffer_size, i, mask, i);
  io_uring_buf_ring_advance(br_, o_.buffers);
  return absl::OkStatus();
}

Ring::~Ring() {
  {
    std::lock_guard<std::mutex> l(g_rings_mu);
    Rings().erase(id_);
  }
  if (ring_ok_) {
    if (br_) io_uring_unregister_buf_ring(&ring_, kGroup);
    io_uring_queue_exit(&ring_);
  }
  if (br_) munmap(br_, br_bytes_);
  std::free(pool_);
  if (wake_fd_ >= 0) close(wake_fd_);
}

void Ring::GiveBack(int id) {
  io_uring_buf_ring_add(br_, pool_ + static_cast<size_t>(id) * o_.buffer_size, o_.buffer_size,
                        static_cast<unsigned short>(id), io_uring_buf_ring_mask(o_.buffers), 0);
  io_uring_buf_ring_advance(br_, 1);
}

io_uring_sqe* Ring::Sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  while (!sqe) {
    io_uring_submit(&ring_);  // the queue is full: hand it over and take a fresh slot
    sqe = io_uring_get_sqe(&ring_);
  }
  return sqe;
}

void Ring::ArmWake() {
  io_uring_sqe* sqe = Sqe();
  io_uring_prep_read(sqe, wake_fd_, &wake_value_, sizeof(wake_value_), 0);
  io_uring_sqe_set_data64(sqe, kWake);
}

Ring::Op Ring::Recv(int fd, void* buf, size_t n, Deadline d) {
  Op op(this, Op::Kind::kRecv, fd, d);
  op.buf_ = buf;
  op.len_ = n;
  return op;
}

Ring::Op Ring::Send(int fd, const void* buf, size_t n, Deadline d) {
  Op op(this, Op::Kind::kSend, fd, d);
  op.buf_ = const_cast<void*>(buf);
  op.len_ = n;
  return op;
}

Ring::Op Ring::Connect(int fd, const sockaddr* a, socklen_t len, Deadline d) {
  Op op(this, Op::Kind::kConnect, fd, d);
  op.addr_ = a;
  op.addrlen_ = len;
  return op;
}

Ring::Op Ring::Accept(int fd) {
  Op op(this, Op::Kind::kAccept, fd, kNoDeadline);
  op.idle_ = true;
  return op;
}

Ring::Op Ring::Sleep(std::chrono::milliseconds d) {
  Op op(this, Op::Kind::kSleep, -1, kNoDeadline);
  op.ts_.tv_sec = d.count() / 1000;
  op.ts_.tv_nsec = (d.count() % 1000) * 1000000;
  return op;
}

Ring::PooledRecv::PooledRecv(Ring* r, int fd, Deadline d, RingBuffer* out, bool own, bool idle)
    : op_(r, r->br_ && !own ? Op::Kind::kRecvPooled : Op::Kind::kRecv, fd, d), out_(out) {
  op_.idle_ = idle;
  out_->Release();
  if (op_.kind_ == Op::Kind::kRecv) {
    out_->data_ = static_cast<char*>(std::malloc(r->o_.buffer_size));
    op_.buf_ = out_->data_;
    op_.len_ = r->o_.buffer_size;
  }
}

int Ring::PooledRecv::await_resume() {
  int res = op_.await_resume();
  Ring* r = op_.ring_;
  if (op_.kind_ == Op::Kind::kRecvPooled) {
    if (op_.flags_ & IORING_CQE_F_BUFFER) {
      out_->ring_ = r;
      out_->id_ = static_cast<int>(op_.flags_ >> IORING_CQE_BUFFER_SHIFT);
      out_->data_ = r->pool_ + static_cast<size_t>(out_->id_) * r->o_.buffer_size;
      if (res <= 0) out_->Release();
    }
    return res;
  }
  if (res <= 0) out_->Release();  // a heap buffer (no pool)
  return res;
}

void Ring::Op::await_suspend(std::coroutine_handle<> h) {
  h_ = h;
  ring_->Submit(this);
}

int Ring::Op::await_resume() const noexcept {
  if (timed_out_ && (res_ == -ECANCELED || res_ == -EINTR)) return -ETIMEDOUT;
  if (kind_ == Kind::kSleep && res_ == -ETIME) return 0;
  return res_;
}

void Ring::Submit(Op* op) {
  io_uring_sqe* sqe = Sqe();
  switch (op->kind_) {
    case Op::Kind::kRecv:
      io_uring_prep_recv(sqe, op->fd_, op->buf_, op->len_, 0);
      break;
    case Op::Kind::kRecvPooled:
      io_uring_prep_recv(sqe, op->fd_, nullptr, o_.buffer_size, 0);
      sqe->flags |= IOSQE_BUFFER_SELECT;
      sqe->buf_group = kGroup;
      break;
    case Op::Kind::kSend:
      io_uring_prep_send(sqe, op->fd_, op->buf_, op->len_, MSG_NOSIGNAL);
      break;
    case Op::Kind::kConnect:
      io_uring_prep_connect(sqe, op->fd_, op->addr_, op->addrlen_);
      break;
    case Op::Kind::kAccept:
      io_uring_prep_accept(sqe, op->fd_, nullptr, nullptr, SOCK_CLOEXEC);
      break;
    case Op::Kind::kSleep:
      io_uring_prep_timeout(sqe, &op->ts_, 0, 0);
      break;
  }
  io_uring_sqe_set_data(sqe, op);
  if (op->deadline_ != kNoDeadline || op->idle_) {
    op->listed_ = true;
    op->prev_ = nullptr;
    op->next_ = listed_;
    if (listed_) listed_->prev_ = op;
    listed_ = op;
  }
  if (op->idle_ && stopping_) CancelOp(op);  // draining: a wait for more work ends at once
}

void Ring::CancelOp(Op* op) {
  io_uring_sqe* sqe = Sqe();
  io_uring_prep_cancel(sqe, op, 0);
  io_uring_sqe_set_data64(sqe, kIgnore);
}

void Ring::Complete(const io_uring_cqe& cqe) {
  auto* op = static_cast<Op*>(io_uring_cqe_get_data(&cqe));
  op->res_ = cqe.res;
  op->flags_ = cqe.flags;
  if (op->listed_) {
    if (op->prev_) op->prev_->next_ = op->next_;
    if (op->next_) op->next_->prev_ = op->prev_;
    if (listed_ == op) listed_ = op->next_;
    op->listed_ = false;
  }
  op->h_.resume();
}

void Ring::Sweep(Deadline now) {
  for (Op* op = listed_; op; op = op->next_) {
    if (op->timed_out_ || op->deadline_ > now) continue;
    op->timed_out_ = true;
    CancelOp(op);
  }
}

void Ring::CancelIdle() {
  for (Op* op = listed_; op; op = op->next_) {
    if (op->idle_) CancelOp(op);
  }
}

void Ring::CancelAll() {
  for (int fd : sockets_) ::shutdown(fd, SHUT_RDWR);
  io_uring_sqe* sqe = Sqe();
  io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
  io_uring_sqe_set_data64(sqe, kIgnore);
}

void Ring::Cancel(int fd) {
  io_uring_sqe* sqe = Sqe();
  io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
  io_uring_sqe_set_data64(sqe, kIgnore);
}

void Ring::Post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> l(mu_);
    posted_.push_back(std::move(fn));
  }
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
}

void Ring::PostTo(uint64_t id, std::function<void()> fn) {
  std::lock_guard<std::mutex> l(g_rings_mu);
  auto it = Rings().find(id);
  if (it != Rings().end()) it->second->Post(std::move(fn));
}

void Ring::Stop() {
  stop_ = true;
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
}

absl::Status Ring::Run(std::function<void()> on_stop, std::chrono::milliseconds grace) {
  Deadline next_sweep = Clock::now() + kSweepEvery;
  Deadline drain_until = kNoDeadline, cut_until = kNoDeadline;
  while (true) {
    if (stop_ && !stopping_) {
      stopping_ = true;
      if (on_stop) on_stop();
      CancelIdle();
      drain_until = Clock::now() + grace;
    }
    if (stopping_ && tasks_ == 0) break;
    if (stopping_ && !cutting_ && Clock::now() > drain_until) {
      cutting_ = true;
      CancelAll();
      cut_until = Clock::now() + std::chrono::seconds(1);
    }
    if (cutting_ && Clock::now() > cut_until) break;
    __kernel_timespec ts{0, std::chrono::nanoseconds(kSweepEvery).count()};
    io_uring_cqe* first = nullptr;
    int rc = io_uring_submit_and_wait_timeout(&ring_, &first, 1, &ts, nullptr);
    // Transient: the wait timed out or was interrupted, or completions are waiting to be reaped.
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN) {
      return absl::InternalError(absl::StrCat("io_uring_enter: ", std::strerror(-rc)));
    }
    ring_detail::now = Clock::now();
    // Completions are copied out and marked seen before their task resumes: the task may queue
    // new operations, and a resumed task must not find its slot reused under it.
    io_uring_cqe* c = nullptr;
    while (io_uring_peek_cqe(&ring_, &c) == 0 && c) {
      const io_uring_cqe copy = *c;
      io_uring_cqe_seen(&ring_, c);
      const uint64_t tag = copy.user_data;
      if (tag == kIgnore) continue;
      if (tag == kWake) {
        std::vector<std::function<void()>> fns;
        {
          std::lock_guard<std::mutex> l(mu_);
          fns.swap(posted_);
        }
        ArmWake();
        for (auto& fn : fns) fn();
        continue;
      }
      Complete(copy);
    }
    const Deadline now = ring_detail::now;
    if (now >= next_sweep) {
      Sweep(now);
      if (cutting_) CancelAll();
      next_sweep = now + kSweepEvery;
    }
  }
  io_uring_submit(&ring_);
  return absl::OkStatus();
}

}  // namespace warden::gateway
