// MeasureFp32FmaPeak: 12 independent AVX2 FMA chains per thread.
#include "kernels/fma_peak.h"

#include <immintrin.h>

#include <atomic>
#include <vector>

#include "core/timer.h"

namespace gpt2q {
namespace {

constexpr int kChains = 12;        // > latency × throughput of FMA on current cores
constexpr int64_t kInner = 4096;  // multiply-adds per chain between clock reads

// Returns the lanes' sum so the chains cannot be optimised away.
float RunChains(int64_t rounds) {
  __m256 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(0.001f * float(c));
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int64_t r = 0; r < rounds; ++r) {
    for (int64_t i = 0; i < kInner; ++i) {
      for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
    }
  }
  __m256 sum = acc[0];
  for (int c = 1; c < kChains; ++c) sum = _mm256_add_ps(sum, acc[c]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, sum);
  return lanes[0];
}

}  // namespace

double MeasureFp32FmaPeak(ThreadPool& pool, double seconds) {
  // Calibrate the rounds on one thread, then time every thread together.
  // (Every result goes to `sink`: an unused one lets the compiler drop the call.)
  volatile float sink = 0;
  int64_t rounds = 1;
  for (;;) {
    Stopwatch watch;
    sink = sink + RunChains(rounds);
    if (watch.Seconds() >= seconds / 4 || rounds >= (int64_t{1} << 20)) break;
    rounds *= 2;
  }
  // Eight tasks per thread, claimed as threads free up: a thread that starts
  // late does not leave the others idle at the end.
  const int64_t tasks = 8 * int64_t{pool.num_threads()};
  const int64_t per_task = rounds / 8 > 0 ? rounds / 8 : 1;
  std::vector<float> sinks(tasks);
  Stopwatch watch;
  pool.ParallelFor(tasks, [&](int64_t t) { sinks[t] = RunChains(per_task); });
  const double elapsed = watch.Seconds();
  for (float s : sinks) sink = sink + s;
  return double(tasks) * double(per_task) * kInner * kChains * 8 * 2 / elapsed;
}

}  // namespace gpt2q
