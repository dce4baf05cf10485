// Memory accounting through an atomic counter and /proc/self/status.
#include "core/memory_stats.h"

#include <atomic>
#include <cstdio>
#include <cstring>

namespace gpt2q {
namespace {

// The process-wide allocation counters: the one place where memory accounting
// must be global, since every buffer anywhere reports to it.
std::atomic<int64_t> g_tracked{0};
std::atomic<int64_t> g_tracked_peak{0};

int64_t ReadStatusKb(const char* key) {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  int64_t kb = 0;
  size_t key_len = std::strlen(key);
  while (std::fgets(line, sizeof(line), f)) {
    if (std::strncmp(line, key, key_len) == 0) {
      std::sscanf(line + key_len, "%ld", &kb);
      break;
    }
  }
  std::fclose(f);
  return kb;
}

}  // namespace

void TrackAllocation(int64_t delta) {
  int64_t now = g_tracked.fetch_add(delta) + delta;
  int64_t peak = g_tracked_peak.load();
  while (now > peak && !g_tracked_peak.compare_exchange_weak(peak, now)) {
  }
}
int64_t TrackedBytes() { return g_tracked.load(); }
int64_t TrackedPeakBytes() { return g_tracked_peak.load(); }
void ResetTrackedPeak() { g_tracked_peak.store(g_tracked.load()); }
int64_t PeakRssBytes() { return ReadStatusKb("VmHWM:") * 1024; }
int64_t CurrentRssBytes() { return ReadStatusKb("VmRSS:") * 1024; }
int64_t FileBackedRssBytes() { return ReadStatusKb("RssFile:") * 1024; }

bool ResetPeakRss() {
  FILE* f = std::fopen("/proc/self/clear_refs", "w");
  if (!f) return false;
  bool ok = std::fputs("5", f) >= 0;
  return (std::fclose(f) == 0) && ok;
}

}  // namespace gpt2q
