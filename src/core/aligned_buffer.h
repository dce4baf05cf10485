// AlignedBuffer: an owned, 64-byte aligned, zero-initialised byte array.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "core/check.h"
#include "core/memory_stats.h"

namespace gpt2q {

class AlignedBuffer {
 public:
  static constexpr size_t kAlignment = 64;  // one cache line; enough for AVX-512 loads

  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t bytes) : size_(bytes) {
    if (bytes == 0) return;
    size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
    data_.reset(static_cast<uint8_t*>(std::aligned_alloc(kAlignment, rounded)));
    GPT2Q_CHECK(data_ != nullptr);
    std::memset(data_.get(), 0, rounded);
    TrackAllocation(static_cast<int64_t>(rounded));
    tracked_ = rounded;
  }
  AlignedBuffer(AlignedBuffer&& other) noexcept { *this = std::move(other); }
  AlignedBuffer& operator=(AlignedBuffer&& other) noexcept {
    if (this != &other) {
      Release();
      data_ = std::move(other.data_);
      size_ = other.size_;
      tracked_ = other.tracked_;
      other.size_ = other.tracked_ = 0;
    }
    return *this;
  }
  ~AlignedBuffer() { Release(); }

  uint8_t* data() { return data_.get(); }
  const uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }
  template <typename T>
  T* as() { return reinterpret_cast<T*>(data_.get()); }
  template <typename T>
  const T* as() const { return reinterpret_cast<const T*>(data_.get()); }

 private:
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  void Release() {
    if (tracked_) TrackAllocation(-static_cast<int64_t>(tracked_));
    data_.reset();
    size_ = tracked_ = 0;
  }
  std::unique_ptr<uint8_t, Free> data_;
  size_t size_ = 0;
  size_t tracked_ = 0;
};

}  // namespace gpt2q
