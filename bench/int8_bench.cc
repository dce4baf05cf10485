// int8 / fp16 / bf16 formats vs our fp32 (OpenBLAS) on GPT-2-small linear shapes,
// 2 threads: prefill (n = 1024 tokens) and decode (n = 1). Counters: GOP/s
// (2·n·rows·cols per Multiply) and the ratio to fp32 measured in this process.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "formats/format.h"
#include "kernels/blas.h"

namespace gpt2q {
namespace {

struct Variant {
  std::string label;  // shown in the benchmark name
  std::string format;
  FormatParams params;
};

const std::vector<Variant>& Variants() {
  static const std::vector<Variant> v = {
      {"fp32", "fp32", {}},
      {"fp16", "fp16", {}},
      {"bf16", "bf16", {}},
      {"int8-row(weight-only)", "int8-row", {}},
      {"int8-row(w8a8)", "int8-row", {{"w8a8", 1}}},
      {"int8-row-asym(w8a8)", "int8-row-asym", {{"w8a8", 1}}},
      {"int8-group(8bit,w8a8)", "int8-group", {}},
      {"int8-group(4bit,w8a8)", "int8-group", {{"bits", 4}}},
      {"int8-group(4bit,weight-only)", "int8-group", {{"bits", 4}, {"w8a8", 0}}},
      {"llm-int8", "llm-int8", {}},
  };
  return v;
}

// fp32 seconds per Multiply, per (rows, cols, n), filled by the fp32 runs.
std::map<std::tuple<int64_t, int64_t, int64_t>, double>& Fp32Times() {
  static std::map<std::tuple<int64_t, int64_t, int64_t>, double> t;
  return t;
}

void BM_Multiply(benchmark::State& state, const Variant& v, int64_t cols, int64_t rows, int64_t n) {
  UseSingleThreadedBlas();
  ThreadPool pool(2);
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 0.05f);
  std::vector<float> w(static_cast<size_t>(rows * cols)), x(static_cast<size_t>(n * cols));
  for (float& f : w) f = dist(rng);
  for (float& f : x) f = 20.0f * dist(rng);  // |x| < 6: no llm-int8 outliers
  auto m = FindFormat(v.format).value()->quantize(w.data(), rows, cols, v.params, pool);
  if (!m.ok()) {
    state.SkipWithError(m.message().c_str());
    return;
  }
  std::vector<float> y(static_cast<size_t>(n * rows));
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    m.value()->Multiply(x.data(), n, y.data(), pool);
    benchmark::DoNotOptimize(y.data());
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() /
                      static_cast<double>(std::max<int64_t>(1, state.iterations()));
  const double ops = 2.0 * n * rows * cols;
  state.counters["GOP/s"] = benchmark::Counter(ops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["bytes/w"] = static_cast<double>(m.value()->StoredBytes()) / (rows * cols);
  // Speed-up over fp32's run of the same shape (registered, hence run, first).
  auto& fp32 = Fp32Times()[{rows, cols, n}];
  if (v.format == "fp32") fp32 = secs;
  if (fp32 > 0) state.counters["x_fp32"] = fp32 / secs;
}

void Register() {
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{768, 2304}, {768, 768}, {768, 3072}, {3072, 768}};
  for (int64_t n : {1024, 1}) {
    for (auto [in, out] : shapes) {
      for (const Variant& v : Variants()) {
        const std::string name = "Multiply/" + v.label + "/" + std::to_string(in) + "x" +
                                 std::to_string(out) + "/n=" + std::to_string(n);
        benchmark::RegisterBenchmark(name.c_str(), [v, in, out, n](benchmark::State& s) {
          BM_Multiply(s, v, in, out, n);
        })->Unit(benchmark::kMicrosecond)->UseRealTime()->MinTime(n == 1 ? 0.2 : 0.5);
      }
    }
  }
}

}  // namespace
}  // namespace gpt2q

int main(int argc, char** argv) {
  gpt2q::Register();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
