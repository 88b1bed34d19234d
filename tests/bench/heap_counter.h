// Heap accounting for compile_bench: every operator new/delete of the process (yaml-cpp and absl
// included) goes through heap_counter.cc, so "live bytes" and its high-water mark are exact,
// unlike RSS (which also sees pages malloc keeps after a free). Counting costs a few percent, so
// it is on only for the untimed runs that measure memory. Single-threaded use only.
#pragma once

#include <cstdint>

namespace warden::bench::heap {

// On from the start of the process.
void SetCounting(bool on);
// Bytes allocated and not freed while counting was on.
int64_t LiveBytes();
// The highest LiveBytes() since the last ResetPeak().
int64_t PeakBytes();
void ResetPeak();

}  // namespace warden::bench::heap
