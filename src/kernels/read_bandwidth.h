// The machine's read bandwidth as a streaming kernel sees it: the yardstick for
// batch-1 decode, which reads every weight once per token.
#pragma once

#include <cstdint>

#include "core/aligned_buffer.h"
#include "core/thread_pool.h"

namespace gpt2q {

class ReadBandwidthProbe {
 public:
  // A buffer far larger than any cache (tracked, written once so its pages exist).
  explicit ReadBandwidthProbe(int64_t bytes = int64_t{256} << 20);

  // Reads the whole buffer once, every thread of `pool` summing its chunks;
  // returns bytes per second.
  double Measure(ThreadPool& pool);

  int64_t bytes() const { return static_cast<int64_t>(buffer_.size()); }

 private:
  AlignedBuffer buffer_;
  uint64_t sink_ = 0;  // the sums, so the reads cannot be optimised away
};

}  // namespace gpt2q
