#include "agent/common/heap_tuning.h"

#include <malloc.h>

namespace warden::common {

void TuneHeap() { mallopt(M_MXFAST, 0); }

void KeepFreedHeap() {
  malloc_trim(0);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // the largest glibc allows; setting it fixes it there
}

}  // namespace warden::common
