// Linear layers of GPT-2 small in the formats whose table row names this program
// (FormatTraits::bench) vs fp32, 2 threads:
// GB/s of weight bytes at n = 1 (decode), GFLOP/s at n = 1024 (prefill), and the
// speed ratio against fp32 (Fp32Matrix, OpenBLAS) of the same shape in this run.
// At n = 1 the layer shapes also run "streamed": enough copies of the matrix,
// used in turn, that its codes come from memory as in a real decode step
// (GPT-2 small's layers do not fit in the last-level cache together).
// Run with --benchmark_repetitions=3 --benchmark_report_aggregates_only=true.
#include <benchmark/benchmark.h>

#include <chrono>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "core/thread_pool.h"
#include "formats/format.h"
#include "formats/fp32_matrix.h"
#include "kernels/blas.h"

namespace gpt2q {
namespace {

constexpr int kThreads = 2;
// fp32 (the baseline) first, then every format table row timed by this program.
std::vector<std::string> Formats() {
  std::vector<std::string> names = {"fp32"};
  for (const FormatTraits& f : FormatTable()) {
    if (f.bench == "q4_bench") names.emplace_back(f.name);
  }
  return names;
}
// (in_features, out_features): c_attn, attn c_proj, c_fc, mlp c_proj. These
// fit in the last-level cache; decode also runs the tied head, whose codes
// stream from memory as in a real decode step.
const std::pair<int64_t, int64_t> kShapes[] = {{768, 2304}, {768, 768}, {768, 3072}, {3072, 768}};
constexpr std::pair<int64_t, int64_t> kHeadShape = {768, 50257};

ThreadPool& Pool() {
  static ThreadPool pool(kThreads);
  return pool;
}

std::vector<float> Normal(int64_t n, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Seconds per Multiply of fp32 for the same shape and variant, filled by the fp32 runs that
// are registered before the other formats of the same shape.
// Keyed by (in, out, n, streamed).
std::map<std::tuple<int64_t, int64_t, int64_t, bool>, double>& Fp32Seconds() {
  static std::map<std::tuple<int64_t, int64_t, int64_t, bool>, double> seconds;
  return seconds;
}

// Bytes the streamed variant cycles through: three times a 32 MiB L3.
constexpr int64_t kStreamBytes = int64_t{96} << 20;

Result<std::unique_ptr<WeightMatrix>> MakeMatrix(const std::string& format, const float* w,
                                                 int64_t in, int64_t out) {
  if (format == "fp32") {
    // Its own copy: Fp32Matrix views its data, and the streamed copies must differ.
    auto data = std::make_shared<std::vector<float>>(w, w + in * out);
    return std::unique_ptr<WeightMatrix>(
        std::make_unique<Fp32Matrix>(data->data(), out, in, Fp32Layout::kOutIn, data));
  }
  auto f = FindFormat(format);
  if (!f.ok()) return f.status();
  return f.value()->quantize(w, out, in, {}, Pool());
}

void BM_Linear(benchmark::State& state, std::string format, int64_t in, int64_t out, int64_t n,
               bool streamed) {
  UseSingleThreadedBlas();
  const auto w = Normal(in * out, 1, 0.02f);  // [out, in] row-major
  const auto x = Normal(n * in, 2, 1.0f);
  std::vector<float> y(n * out);
  std::vector<std::unique_ptr<WeightMatrix>> copies;
  do {
    auto m = MakeMatrix(format, w.data(), in, out);
    if (!m.ok()) {
      state.SkipWithError(m.message().c_str());
      return;
    }
    copies.push_back(std::move(m).value());
  } while (streamed && static_cast<int64_t>(copies.size()) * copies[0]->StoredBytes() < kStreamBytes);
  const WeightMatrix* m = copies[0].get();
  size_t next = 0;
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    copies[next]->Multiply(x.data(), n, y.data(), Pool());
    next = next + 1 == copies.size() ? 0 : next + 1;
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() /
      static_cast<double>(state.iterations());
  const auto key = std::make_tuple(in, out, n, streamed);
  if (format == "fp32") Fp32Seconds()[key] = seconds;
  const auto it = Fp32Seconds().find(key);
  if (it != Fp32Seconds().end()) state.counters["x_fp32"] = it->second / seconds;
  const double iters = static_cast<double>(state.iterations());
  if (n == 1) {
    state.counters["GB/s"] = benchmark::Counter(iters * m->StoredBytes() * 1e-9,
                                                benchmark::Counter::kIsRate);
  } else {
    state.counters["GFLOP/s"] = benchmark::Counter(iters * 2.0 * n * in * out * 1e-9,
                                                   benchmark::Counter::kIsRate);
  }
  state.counters["bytes"] = static_cast<double>(m->StoredBytes());
}

// Called from main, not from a static initialiser: the format table copies
// other files' rows, which may not be initialised yet during static init (the
// table then held only fp32 and this program timed nothing else).
void RegisterAll() {
  for (int64_t n : {1, 1024}) {
    std::vector<std::pair<int64_t, int64_t>> shapes(std::begin(kShapes), std::end(kShapes));
    if (n == 1) shapes.push_back(kHeadShape);
    for (auto [in, out] : shapes) {
      const bool head = std::make_pair(in, out) == kHeadShape;
      for (bool streamed : {false, true}) {
        if (streamed && (n != 1 || head)) continue;  // the head streams already
        for (const std::string& f : Formats()) {
          const std::string name = f + "/" + std::to_string(in) + "x" +
                                   std::to_string(out) + "/n" + std::to_string(n) +
                                   (streamed ? "/streamed" : "");
          benchmark::RegisterBenchmark(name.c_str(), BM_Linear, f, in, out, n, streamed)
              ->UseRealTime()
              ->Unit(n == 1 ? benchmark::kMicrosecond : benchmark::kMillisecond);
        }
      }
    }
  }
}

}  // namespace
}  // namespace gpt2q

int main(int argc, char** argv) {
  gpt2q::RegisterAll();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
