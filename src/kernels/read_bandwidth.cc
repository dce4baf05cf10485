// ReadBandwidthProbe: a 4-accumulator AVX2 sum over 1 MiB chunks.
#include "kernels/read_bandwidth.h"

#include <immintrin.h>

#include <vector>

#include "core/timer.h"

namespace gpt2q {
namespace {

constexpr int64_t kChunk = int64_t{1} << 20;

uint64_t SumChunk(const uint8_t* p, int64_t bytes) {
  __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
  for (int64_t i = 0; i + 128 <= bytes; i += 128) {
    a = _mm256_add_epi64(a, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i)));
    b = _mm256_add_epi64(b, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 32)));
    c = _mm256_add_epi64(c, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 64)));
    d = _mm256_add_epi64(d, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 96)));
  }
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d)));
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}

}  // namespace

ReadBandwidthProbe::ReadBandwidthProbe(int64_t bytes)
    : buffer_(static_cast<size_t>((bytes + kChunk - 1) / kChunk * kChunk)) {
  // AlignedBuffer zeroes its memory: every page is resident before the first read.
  for (size_t i = 0; i < buffer_.size(); i += 4096) buffer_.data()[i] = static_cast<uint8_t>(i >> 12);
}

double ReadBandwidthProbe::Measure(ThreadPool& pool) {
  const int64_t n = bytes() / kChunk;
  std::vector<uint64_t> sums(n);
  Stopwatch watch;
  pool.ParallelFor(n, [&](int64_t t) { sums[t] = SumChunk(buffer_.data() + t * kChunk, kChunk); });
  const double seconds = watch.Seconds();
  for (uint64_t s : sums) sink_ += s;
  return static_cast<double>(bytes()) / seconds;
}

}  // namespace gpt2q
