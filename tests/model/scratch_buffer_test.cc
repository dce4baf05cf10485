// ScratchBuffer (core/scratch_buffer.h): growth, alignment, reuse, and the
// tracked totals it reports while it holds memory.
#include <gtest/gtest.h>

#include <cstdint>
#include <thread>

#include "core/memory_stats.h"
#include "core/scratch_buffer.h"

namespace gpt2q {
namespace {

TEST(ScratchBuffer, GrowsToTheLargestRequestAndTracksIt) {
  const int64_t tracked = TrackedBytes(), scratch = TrackedScratchBytes();
  {
    ScratchBuffer buffer;
    EXPECT_EQ(buffer.capacity(), 0u);
    EXPECT_EQ(TrackedBytes(), tracked);

    float* a = buffer.Get<float>(100);  // 400 bytes, rounded up to 448
    EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % ScratchBuffer::kAlignment, 0u);
    EXPECT_EQ(buffer.capacity(), 448u);
    EXPECT_EQ(TrackedBytes() - tracked, 448);
    EXPECT_EQ(TrackedScratchBytes() - scratch, 448);

    // A smaller or equal request reuses the memory: same pointer, same total.
    a[99] = 1.5f;
    EXPECT_EQ(buffer.Get<float>(50), a);
    EXPECT_EQ(buffer.Get<uint8_t>(448), reinterpret_cast<uint8_t*>(a));
    EXPECT_EQ(a[99], 1.5f);
    EXPECT_EQ(TrackedBytes() - tracked, 448);

    // Growth replaces the allocation and reports only the difference.
    ResetTrackedPeak();
    double* b = buffer.Get<double>(1000);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b) % ScratchBuffer::kAlignment, 0u);
    EXPECT_EQ(buffer.capacity(), 8000u);
    EXPECT_EQ(TrackedBytes() - tracked, 8000);
    EXPECT_EQ(TrackedScratchBytes() - scratch, 8000);
    EXPECT_EQ(TrackedPeakBytes() - tracked, 8000);  // never old + new at once
  }
  EXPECT_EQ(TrackedBytes(), tracked);
  EXPECT_EQ(TrackedScratchBytes(), scratch);
}

TEST(ScratchBuffer, ThreadLocalIsReleasedWhenItsThreadEnds) {
  const int64_t tracked = TrackedBytes(), scratch = TrackedScratchBytes();
  int64_t held = 0;
  std::thread worker([&] {
    thread_local ScratchBuffer buffer;
    buffer.Get<uint8_t>(1 << 20);
    held = TrackedScratchBytes() - scratch;
  });
  worker.join();
  EXPECT_EQ(held, 1 << 20);
  EXPECT_EQ(TrackedBytes(), tracked);
  EXPECT_EQ(TrackedScratchBytes(), scratch);
}

}  // namespace
}  // namespace gpt2q
