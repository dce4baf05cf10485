// ScratchBuffer growth and release, reported to the memory accounting.
#include "core/scratch_buffer.h"

#include <atomic>
#include <cstdlib>

#include "core/check.h"
#include "core/memory_stats.h"

namespace gpt2q {
namespace {

// Bytes held by all scratch buffers: like the tracked total it is part of,
// process-wide, since the buffers live on every thread.
std::atomic<int64_t> g_scratch_bytes{0};

void TrackScratch(int64_t delta) {
  g_scratch_bytes.fetch_add(delta);
  TrackAllocation(delta);
}

}  // namespace

ScratchBuffer::~ScratchBuffer() {
  if (capacity_ == 0) return;
  std::free(data_);
  TrackScratch(-static_cast<int64_t>(capacity_));
}

void ScratchBuffer::Grow(size_t bytes) {
  const size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  // Free first: the old contents are not kept, and the peak never holds both.
  std::free(data_);
  data_ = static_cast<unsigned char*>(std::aligned_alloc(kAlignment, rounded));
  GPT2Q_CHECK(data_ != nullptr);
  TrackScratch(static_cast<int64_t>(rounded) - static_cast<int64_t>(capacity_));
  capacity_ = rounded;
}

int64_t TrackedScratchBytes() { return g_scratch_bytes.load(); }

}  // namespace gpt2q
