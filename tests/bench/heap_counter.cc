#include "tests/bench/heap_counter.h"

#include <malloc.h>

#include <cstddef>
#include <cstdlib>
#include <new>

namespace {

bool g_counting = true;
int64_t g_live_bytes = 0;
int64_t g_peak_bytes = 0;

void* CountedAlloc(size_t n, size_t align) {
  void* p = align <= alignof(std::max_align_t)
                ? std::malloc(n ? n : 1)
                : std::aligned_alloc(align, (n + align - 1) / align * align);
  if (!p) throw std::bad_alloc();
  if (g_counting) {
    g_live_bytes += static_cast<int64_t>(malloc_usable_size(p));
    if (g_live_bytes > g_peak_bytes) g_peak_bytes = g_live_bytes;
  }
  return p;
}

void CountedFree(void* p) noexcept {
  if (!p) return;
  if (g_counting) g_live_bytes -= static_cast<int64_t>(malloc_usable_size(p));
  std::free(p);
}

}  // namespace

namespace warden::bench::heap {

void SetCounting(bool on) { g_counting = on; }
int64_t LiveBytes() { return g_live_bytes; }
int64_t PeakBytes() { return g_peak_bytes; }
void ResetPeak() { g_peak_bytes = g_live_bytes; }

}  // namespace warden::bench::heap

void* operator new(size_t n) { return CountedAlloc(n, 0); }
void* operator new[](size_t n) { return CountedAlloc(n, 0); }
void* operator new(size_t n, std::align_val_t a) { return CountedAlloc(n, static_cast<size_t>(a)); }
void* operator new[](size_t n, std::align_val_t a) {
  return CountedAlloc(n, static_cast<size_t>(a));
}
void operator delete(void* p) noexcept { CountedFree(p); }
void operator delete[](void* p) noexcept { CountedFree(p); }
void operator delete(void* p, size_t) noexcept { CountedFree(p); }
void operator delete[](void* p, size_t) noexcept { CountedFree(p); }
void operator delete(void* p, std::align_val_t) noexcept { CountedFree(p); }
void operator delete[](void* p, std::align_val_t) noexcept { CountedFree(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { CountedFree(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { CountedFree(p); }
