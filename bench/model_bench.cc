// Whole-model throughput on GPT-2-small shapes (--synthetic gpt2), 2 threads:
// prefill of one 1024-token window with logits at every position (the
// perplexity workload) and batch-1 decode with the KV cache. Medians of 5.
#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <vector>

#include "core/aligned_buffer.h"
#include "core/check.h"
#include "kernels/blas.h"
#include "model/config.h"
#include "model/gpt2.h"
#include "model/kv_cache.h"
#include "model/synthetic.h"

namespace gpt2q {
namespace {

constexpr int kThreads = 2;              // the machines this project targets have 2 cores
constexpr int64_t kPrefillTokens = 1024; // GPT-2's full context
constexpr int64_t kDecodeTokens = 64;    // per iteration, from an empty cache

struct Fixture {
  ThreadPool pool{kThreads};
  std::unique_ptr<GPT2> model;
  std::vector<int32_t> tokens;

  Fixture() {
    UseSingleThreadedBlas();
    Result<GPT2Config> config = PresetConfig("gpt2");
    GPT2Q_CHECK(config.ok());
    model = std::make_unique<GPT2>(MakeSyntheticModel(*config, 1234, pool));
    std::mt19937_64 rng(7);
    std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(config->n_vocab) - 1);
    tokens.resize(kPrefillTokens);
    for (int32_t& t : tokens) t = token(rng);
  }
};

Fixture& GetFixture() {
  static Fixture* fixture = new Fixture();
  return *fixture;
}

void BM_PrefillAllLogits(benchmark::State& state) {
  Fixture& f = GetFixture();
  const GPT2Config& config = f.model->config();
  KVCache cache(config, 1, kPrefillTokens);
  AlignedBuffer logits(static_cast<size_t>(kPrefillTokens * config.n_vocab) * sizeof(float));
  for (auto _ : state) {
    cache.Clear();
    f.model->Forward(f.tokens.data(), 1, kPrefillTokens, cache, LogitsMode::kAll,
                     logits.as<float>(), f.pool);
    benchmark::DoNotOptimize(logits.data());
  }
  state.counters["tokens_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * kPrefillTokens), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_PrefillAllLogits)->Unit(benchmark::kMillisecond)->UseRealTime()
    ->Repetitions(5)->ReportAggregatesOnly(true)->Iterations(1);

void BM_DecodeBatch1(benchmark::State& state) {
  Fixture& f = GetFixture();
  const GPT2Config& config = f.model->config();
  KVCache cache(config, 1, kDecodeTokens);
  AlignedBuffer logits(static_cast<size_t>(config.n_vocab) * sizeof(float));
  for (auto _ : state) {
    cache.Clear();
    for (int64_t i = 0; i < kDecodeTokens; ++i) {
      f.model->Forward(&f.tokens[i], 1, 1, cache, LogitsMode::kLast, logits.as<float>(), f.pool);
    }
    benchmark::DoNotOptimize(logits.data());
  }
  state.counters["tokens_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * kDecodeTokens), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_DecodeBatch1)->Unit(benchmark::kMillisecond)->UseRealTime()
    ->Repetitions(5)->ReportAggregatesOnly(true)->Iterations(1);

}  // namespace
}  // namespace gpt2q

BENCHMARK_MAIN();
