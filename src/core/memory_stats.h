// Memory accounting: bytes held in tracked buffers (current and peak) and the
// process's resident set size as the kernel reports it.
#pragma once

#include <cstdint>

namespace gpt2q {

// Adds `delta` bytes (negative to release) to the tracked total. Thread-safe.
void TrackAllocation(int64_t delta);
// Returns the bytes currently held in tracked buffers.
int64_t TrackedBytes();
// Returns the peak of TrackedBytes() since the last ResetTrackedPeak().
int64_t TrackedPeakBytes();
// Sets the tracked peak to the current tracked total.
void ResetTrackedPeak();
// Returns the process's peak resident set size in bytes (VmHWM), 0 if unknown.
int64_t PeakRssBytes();
// Returns the process's current resident set size in bytes (VmRSS), 0 if unknown.
int64_t CurrentRssBytes();
// Returns the part of the RSS backed by files, mapped checkpoints among them
// (RssFile), 0 if unknown.
int64_t FileBackedRssBytes();
// Resets the kernel's peak RSS counter to the current RSS (Linux clear_refs);
// returns false where the kernel does not allow it.
bool ResetPeakRss();

}  // namespace gpt2q
