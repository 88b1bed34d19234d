// glibc heap settings for Warden's processes, which parse tens of megabytes of YAML and rebuild
// large maps on every change.
#pragma once

namespace warden::common {

// No fastbins. yaml-cpp allocates and frees millions of small nodes per manifest file; glibc
// keeps freed small chunks in fastbins and consolidates all of them whenever a larger block is
// asked for, which was a third of the CPU of loading 150,000 pods (start-up load 13.1 s -> 8.1 s,
// docs/benchmarks.md). Small blocks still come from the per-thread cache and the small bins.
// Call first thing in main().
void TuneHeap();

// Hands the freed heap back to the kernel once, then keeps what is freed later: by default glibc
// returns the top of the heap whenever a change frees more than a few megabytes, and the next
// change faults it in again, zeroed page by page (an eighth of the control plane's CPU per change
// at 1,000 nodes). RSS then stays at the high-water mark of the changes. For a daemon after its
// start-up peak.
void KeepFreedHeap();

}  // namespace warden::common
