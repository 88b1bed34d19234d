// Figures of a process from /proc: memory (status, smaps_rollup) and CPU time.
#pragma once

#include <sys/types.h>

namespace warden::testlib {

// A field of /proc/PID/status in kB ("VmRSS", "VmHWM", "RssAnon"), or -1.
long StatusKb(pid_t pid, const char* field);

// A field of /proc/PID/smaps_rollup in kB ("Pss"), or -1.
long SmapsRollupKb(pid_t pid, const char* field);

// Time on CPU of every thread of a process, in ns (the first field of each
// /proc/PID/task/TID/schedstat: nanosecond-exact, unlike the tick-counted utime and stime).
long long SchedstatNs(pid_t pid);

// utime + stime of a process, in seconds (0 once it is gone).
double CpuSeconds(pid_t pid);
// Of that, stime: the time in the kernel (clock ticks: coarse, read it over seconds).
double KernelSeconds(pid_t pid);

}  // namespace warden::testlib
