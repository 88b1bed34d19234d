// Memory the data plane takes and gives back on every request (coroutine frames, read buffers)
// recycled per thread instead of going through malloc each time: a request makes a dozen frames
// and two 16 KB buffers, and malloc/free of them cost more than the request's parsing. Blocks
// are kept in free lists by size class, up to a bound per thread; a worker's blocks never move
// to another thread (each worker owns its connections).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>

namespace warden::gateway {

#if defined(__SANITIZE_ADDRESS__)
#define WARDEN_RECYCLER_OFF 1  // AddressSanitizer sees every use after free only through malloc
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WARDEN_RECYCLER_OFF 1
#endif
#endif

class Recycler {
 public:
  static void* Allocate(size_t n) {
#ifdef WARDEN_RECYCLER_OFF
    return Malloc(n);
#endif
    const int c = Class(n);
    if (c < 0) return Malloc(n);
    Lists& l = Get();
    if (Block* b = l.head[c]) {
      l.head[c] = b->next;
      l.cached -= ClassSize(c);
      return b;
    }
    return Malloc(ClassSize(c));
  }
  static void Free(void* p, size_t n) noexcept {
#ifdef WARDEN_RECYCLER_OFF
    (void)n;
    std::free(p);
    return;
#endif
    const int c = Class(n);
    Lists& l = Get();
    if (c < 0 || l.cached + ClassSize(c) > kMaxCachedBytes) {
      std::free(p);
      return;
    }
    auto* b = static_cast<Block*>(p);
    b->next = l.head[c];
    l.head[c] = b;
    l.cached += ClassSize(c);
  }

 private:
  struct Block {
    Block* next;
  };
  // 64-byte steps to 4 KiB, then 4 KiB steps to 64 KiB.
  static constexpr size_t kSmall = 4096, kLarge = 65536;
  static constexpr int kClasses = 64 + 16;
  static constexpr size_t kMaxCachedBytes = 8 << 20;
  struct Lists {
    Block* head[kClasses] = {};
    size_t cached = 0;
    ~Lists() {
      for (Block* h : head) {
        while (h) {
          Block* next = h->next;
          std::free(h);
          h = next;
        }
      }
    }
  };
  static Lists& Get() {
    thread_local Lists lists;
    return lists;
  }
  static int Class(size_t n) {
    if (n == 0) n = 1;
    if (n <= kSmall) return static_cast<int>((n - 1) / 64);
    if (n <= kLarge) return 64 + static_cast<int>((n - 1 - kSmall) / 4096);
    return -1;
  }
  static size_t ClassSize(int c) {
    return c < 64 ? static_cast<size_t>(c + 1) * 64 : kSmall + static_cast<size_t>(c - 63) * 4096;
  }
  static void* Malloc(size_t n) {
    void* p = std::malloc(n);
    if (!p) throw std::bad_alloc();
    return p;
  }
};

// An allocator over the Recycler (for Beast's buffers).
template <class T>
struct RecyclingAllocator {
  using value_type = T;
  RecyclingAllocator() = default;
  template <class U>
  RecyclingAllocator(const RecyclingAllocator<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(Recycler::Allocate(n * sizeof(T))); }
  void deallocate(T* p, size_t n) noexcept { Recycler::Free(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const RecyclingAllocator<U>&) const {
    return true;
  }
  template <class U>
  bool operator!=(const RecyclingAllocator<U>&) const {
    return false;
  }
};

}  // namespace warden::gateway
