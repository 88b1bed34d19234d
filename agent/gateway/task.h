// The coroutine type of the gateway's data plane: a lazily started task that its awaiter resumes
// (symmetric transfer, so a chain of awaits never grows the stack), and Spawn for a task nobody
// awaits (one per connection). Single-threaded: a task runs on the worker whose ring resumes it.
#pragma once

#include <coroutine>
#include <exception>
#include <optional>
#include <utility>

#include "agent/gateway/recycler.h"

namespace warden::gateway {

template <class T>
class Task;

namespace task_detail {

struct PromiseBase {
  // Frames come from the thread's recycler: a request makes a dozen.
  static void* operator new(size_t n) { return Recycler::Allocate(n); }
  static void operator delete(void* p, size_t n) noexcept { Recycler::Free(p, n); }

  std::coroutine_handle<> continuation;
  std::exception_ptr error;

  std::suspend_always initial_suspend() noexcept { return {}; }
  struct Final {
    bool await_ready() noexcept { return false; }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
      auto c = h.promise().continuation;
      return c ? c : std::noop_coroutine();
    }
    void await_resume() noexcept {}
  };
  Final final_suspend() noexcept { return {}; }
  void unhandled_exception() { error = std::current_exception(); }
};

template <class T>
struct Promise : PromiseBase {
  std::optional<T> value;
  Task<T> get_return_object();
  template <class U>
  void return_value(U&& v) {
    value.emplace(std::forward<U>(v));
  }
};

template <>
struct Promise<void> : PromiseBase {
  Task<void> get_return_object();
  void return_void() {}
};

}  // namespace task_detail

template <class T = void>
class [[nodiscard]] Task {
 public:
  using promise_type = task_detail::Promise<T>;
  using Handle = std::coroutine_handle<promise_type>;

  explicit Task(Handle h) : h_(h) {}
  Task(Task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  Task& operator=(Task&& o) noexcept {
    if (this != &o) {
      if (h_) h_.destroy();
      h_ = std::exchange(o.h_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  ~Task() {
    if (h_) h_.destroy();
  }

  bool await_ready() const noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
    h_.promise().continuation = awaiting;
    return h_;
  }
  T await_resume() {
    if (h_.promise().error) std::rethrow_exception(h_.promise().error);
    if constexpr (!std::is_void_v<T>) return std::move(*h_.promise().value);
  }

 private:
  Handle h_;
};

namespace task_detail {
template <class T>
Task<T> Promise<T>::get_return_object() {
  return Task<T>(std::coroutine_handle<Promise<T>>::from_promise(*this));
}
inline Task<void> Promise<void>::get_return_object() {
  return Task<void>(std::coroutine_handle<Promise<void>>::from_promise(*this));
}

// Runs a task nobody awaits; its frame frees itself when the task ends.
struct Detached {
  struct promise_type {
    static void* operator new(size_t n) { return Recycler::Allocate(n); }
    static void operator delete(void* p, size_t n) noexcept { Recycler::Free(p, n); }
    Detached get_return_object() { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() {}
    void unhandled_exception() {}  // Spawn's callers catch what they mean to
  };
};
inline Detached RunDetached(Task<void> t) { co_await std::move(t); }
}  // namespace task_detail

// Starts `t` now, on this thread; it runs until its first suspension and lives on its own.
inline void Spawn(Task<void> t) { task_detail::RunDetached(std::move(t)); }

}  // namespace warden::gateway
