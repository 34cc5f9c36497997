// The standard process_* figures (CPU time, file descriptors, memory, start time) read from
// /proc/self, with the meaning the Prometheus Go client's process collector gives them.
#pragma once

#include <vector>

#include "metrics/exposition.h"

namespace hw::metrics {

// Each field is NaN when its source could not be read or parsed (not Linux, /proc not
// mounted); the collector then leaves that metric out instead of reporting a made-up value.
struct ProcessStats {
  double cpu_seconds;            // user + system CPU time, /proc/self/stat utime + stime
  double open_fds;               // entries of /proc/self/fd, not counting the one used to list it
  double max_fds;                // soft "Max open files" of /proc/self/limits; +Inf if unlimited
  double resident_memory_bytes;  // /proc/self/stat rss pages * page size
  double virtual_memory_bytes;   // /proc/self/stat vsize
  double start_time_seconds;     // Unix time: /proc/stat btime + starttime ticks / CLK_TCK
};

// Reads the current figures. Never fails as a whole: see the NaN rule above. Costs a few
// small reads of /proc (and one directory listing), so call it at scrape time, not per request.
ProcessStats ReadProcessStats();

// The six process_* families for `stats` (families whose value is NaN are left out).
std::vector<FamilySnapshot> ProcessFamilies(const ProcessStats& stats);

}  // namespace hw::metrics
