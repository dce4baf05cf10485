// ScratchBuffer: a kernel's growable working memory, counted in the tracked
// allocations (core/memory_stats.h) for as long as it holds it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gpt2q {

// A growable, 64-byte aligned byte array for a kernel's temporaries: padded
// activations, dequantized tiles, attention scores. It grows to the largest
// request it has seen and keeps that capacity until it is destroyed, so a
// `thread_local` one is allocated once per worker thread and reused by every
// later call. Its capacity is added to TrackedBytes() and to
// TrackedScratchBytes() (below) while held: a peak measured across a forward pass
// sees it, whether it grew during that pass or was left by an earlier one.
//
// Used as a thread_local (kept across calls) or as a local (freed on return).
// Not thread-safe: one buffer serves one thread at a time.
//
// Why per-thread buffers rather than scratch passed in: the kernels run as
// ThreadPool tasks that do not know which worker runs them, behind the
// WeightMatrix::Multiply interface that every format implements; passing
// scratch explicitly would need a worker index in ParallelFor and a scratch
// argument in every Multiply. Tracking keeps the hidden memory honest.
class ScratchBuffer {
 public:
  static constexpr size_t kAlignment = 64;  // one cache line; enough for AVX-512 loads

  ScratchBuffer() = default;
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  ~ScratchBuffer();

  // Returns space for at least `count` values of T (count >= 0), aligned to
  // kAlignment. The contents are unspecified: kept from earlier calls when the
  // buffer does not grow, lost when it does (growth does not copy). Aborts if
  // the memory cannot be allocated.
  template <typename T>
  T* Get(int64_t count) {
    const size_t bytes = static_cast<size_t>(count) * sizeof(T);
    if (bytes > capacity_) Grow(bytes);
    return reinterpret_cast<T*>(data_);
  }

  // Returns the bytes held (and tracked): the largest request rounded up to
  // kAlignment, 0 before the first.
  size_t capacity() const { return capacity_; }

 private:
  void Grow(size_t bytes);

  unsigned char* data_ = nullptr;
  size_t capacity_ = 0;
};

// Returns the bytes held by every live ScratchBuffer, summed over all threads
// (a part of TrackedBytes()). Thread-safe.
int64_t TrackedScratchBytes();

}  // namespace gpt2q
