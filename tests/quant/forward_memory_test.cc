// The tracked peak of a forward pass counts every kernel's scratch: the
// per-thread tiles, padded activations and attention scores that the kernels
// keep between calls, and the per-call buffers they free on return. For each
// format that uses one, the peak is compared with lower bounds derived from
// the shapes alone, so the test does not trust what it checks.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "core/aligned_buffer.h"
#include "core/memory_stats.h"
#include "core/scratch_buffer.h"
#include "kernels/blas.h"
#include "model/gpt2.h"
#include "model/kv_cache.h"
#include "model/synthetic.h"
#include "quant/quantize_model.h"

namespace gpt2q {
namespace {

// Small, but every format tiles it: rows and columns are multiples of 64.
GPT2Config SmallConfig() {
  GPT2Config c;
  c.n_vocab = 512;
  c.n_ctx = 128;
  c.n_embd = 128;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_inner = 512;
  c.eos_token_id = 511;
  return c;
}

// At most one attention query block (gpt2.cc's kQueriesPerTask is 64), so the
// largest attention task holds the full kPrefill × kPrefill scores; more than
// kInt8GemvMaxTokens and the 8-token decode limits, so the matrices take
// their prefill (tile) paths.
constexpr int64_t kPrefill = 48;

struct Shape {
  int64_t rows, cols;
};

std::vector<Shape> MatrixShapes(ModelWeights& weights) {
  std::vector<Shape> shapes;
  ForEachMatrix(weights, [&](const std::string&, ParamKind, std::shared_ptr<WeightMatrix>& m) {
    shapes.push_back({m->rows(), m->cols()});
  });
  return shapes;
}

// What the tracked counters showed over one Forward call.
struct ForwardMemory {
  int64_t peak = 0;             // tracked peak above the tracked bytes before the call
  int64_t scratch_growth = 0;   // growth of TrackedScratchBytes() over the call
  int64_t activations = 0;      // the forward's own activation buffers (GPT2::ScratchBytes)
  int64_t cache_and_logits = 0; // the KV cache and logits allocated inside the measurement
};

struct PrefillAndDecode {
  ForwardMemory prefill, decode;
};

// Runs a kPrefill-token prefill, then one decode step, on a thread started
// for it with a pool of fresh workers: no thread has kernel scratch yet, so
// every scratch byte the kernels hold afterwards was allocated by these calls.
PrefillAndDecode Measure(const GPT2& model) {
  PrefillAndDecode out;
  std::thread runner([&] {
    ThreadPool pool(2);
    const GPT2Config& c = model.config();
    std::vector<int32_t> tokens(kPrefill);
    for (int64_t t = 0; t < kPrefill; ++t) tokens[t] = static_cast<int32_t>((t * 37 + 11) % c.n_vocab);

    int64_t base = TrackedBytes(), scratch_base = TrackedScratchBytes();
    ResetTrackedPeak();
    {
      KVCache cache(c, 1, kPrefill + 1);
      AlignedBuffer logits(static_cast<size_t>(kPrefill * c.n_vocab) * sizeof(float));
      model.Forward(tokens.data(), 1, kPrefill, cache, LogitsMode::kAll, logits.as<float>(), pool);
      out.prefill.peak = TrackedPeakBytes() - base;
      out.prefill.scratch_growth = TrackedScratchBytes() - scratch_base;
      out.prefill.activations = model.ScratchBytes(1, kPrefill);
      out.prefill.cache_and_logits = cache.bytes() + static_cast<int64_t>(logits.size());

      base = TrackedBytes();
      scratch_base = TrackedScratchBytes();
      ResetTrackedPeak();
      AlignedBuffer next(static_cast<size_t>(c.n_vocab) * sizeof(float));
      const int32_t token = 7;
      model.Forward(&token, 1, 1, cache, LogitsMode::kLast, next.as<float>(), pool);
      out.decode.peak = TrackedPeakBytes() - base;
      out.decode.scratch_growth = TrackedScratchBytes() - scratch_base;
      out.decode.activations = model.ScratchBytes(1, 1);
      out.decode.cache_and_logits = static_cast<int64_t>(next.size());
    }
  });
  runner.join();
  return out;
}

// Lower bounds, in bytes, of the scratch each kernel needs for an n-token
// product, from the shapes alone.
int64_t MaxCols(const std::vector<Shape>& shapes) {
  int64_t cols = 0;
  for (const Shape& s : shapes) cols = std::max(cols, s.cols);
  return cols;
}
// One dequantized fp32 tile of OutputChunk rows (kernels/int8_dequant_gemm.h, bnb4 prefill).
int64_t TileBytes(const std::vector<Shape>& shapes, int64_t n) {
  int64_t bytes = 0;
  for (const Shape& s : shapes) bytes = std::max(bytes, std::min(OutputChunk(n, s.rows), s.rows) * s.cols * 4);
  return bytes;
}
// The scores of one attention block holding every query of the prefill.
int64_t AttentionBytes() { return kPrefill * kPrefill * 4; }

struct Case {
  std::string spec;
  // Kernel scratch that stays allocated after the call (per-thread buffers):
  // a lower bound of the growth of TrackedScratchBytes().
  int64_t (*kept_prefill)(const std::vector<Shape>&);
  int64_t (*kept_decode)(const std::vector<Shape>&);
  // Scratch a kernel frees before returning: only the peak sees it.
  int64_t (*transient_prefill)(const std::vector<Shape>&);
};

int64_t None(const std::vector<Shape>&) { return 0; }

const Case kCases[] = {
    // llama.cpp blocks: activations quantized to 8-bit blocks (≥ 1 byte per
    // value) on the calling thread, kept.
    {"q4_0", [](const std::vector<Shape>& s) { return AttentionBytes() + kPrefill * MaxCols(s); }, None, None},
    // bitsandbytes NF4: dequantized tiles in prefill; permuted fp32 activations in decode.
    {"nf4", [](const std::vector<Shape>& s) { return AttentionBytes() + TileBytes(s, kPrefill); },
     [](const std::vector<Shape>& s) { return MaxCols(s) * 4; }, None},
    // Weight-only int8: dequant tiles + SGEMM in prefill, the GEMV's zero-padded
    // fp32 activations in decode.
    {"absmax", [](const std::vector<Shape>& s) { return AttentionBytes() + TileBytes(s, kPrefill); },
     [](const std::vector<Shape>& s) { return MaxCols(s) * 4; }, None},
    // LLM.int8() with a threshold so low that every input, the MLP's hidden
    // activations (n_inner wide) too, has outlier columns: the fp32 copy of
    // mlp.c_proj's input without them, alive with its int8 codes (1 byte per value).
    {"llm-int8:threshold=0.1", [](const std::vector<Shape>&) { return AttentionBytes(); }, None,
     [](const std::vector<Shape>&) { return kPrefill * SmallConfig().n_inner * (4 + 1); }},
};

class ForwardMemoryTest : public ::testing::TestWithParam<Case> {};

TEST_P(ForwardMemoryTest, TrackedPeakCountsKernelScratch) {
  UseSingleThreadedBlas();
  const Case& c = GetParam();
  ThreadPool pool(2);
  ModelWeights weights = MakeSyntheticModel(SmallConfig(), 3, pool);
  auto spec = ParseQuantSpec(c.spec);
  ASSERT_TRUE(spec.ok()) << spec.message();
  auto scope = MakeScope("linear", {}, {}, weights.config.n_layer);
  ASSERT_TRUE(scope.ok()) << scope.message();
  auto report = QuantizeModel(weights, spec.value(), scope.value(), QuantMode::kPacked, pool);
  ASSERT_TRUE(report.ok()) << report.message();
  const std::vector<Shape> shapes = MatrixShapes(weights);
  GPT2 model(std::move(weights));

  const PrefillAndDecode m = Measure(model);
  struct Phase {
    const char* name;
    const ForwardMemory& mem;
    int64_t kept_bound, transient_bound;
  };
  const Phase phases[] = {
      {"prefill", m.prefill, c.kept_prefill(shapes), c.transient_prefill(shapes)},
      {"decode", m.decode, c.kept_decode(shapes), 0},
  };
  for (const Phase& p : phases) {
    SCOPED_TRACE(c.spec + " " + p.name);
    const int64_t fixed = p.mem.cache_and_logits + p.mem.activations;
    // The kernels report at least the scratch their shapes need...
    EXPECT_GE(p.mem.scratch_growth, p.kept_bound);
    // ...and the peak holds it, at the same time as the forward's own buffers.
    EXPECT_GE(p.mem.peak, fixed + std::max(p.mem.scratch_growth, p.kept_bound));
    EXPECT_GE(p.mem.peak, fixed + p.transient_bound);
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, ForwardMemoryTest, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           std::string name = info.param.spec.substr(0, info.param.spec.find(':'));
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// A kernel's per-thread scratch outlives the forward that grew it; it stays
// in the tracked total, so a peak measured later (ResetTrackedPeak sets the
// peak to the current total) still includes it, and it leaves the total when
// its thread ends.
TEST(ForwardMemory, ScratchOfEndedThreadsLeavesTheTotal) {
  UseSingleThreadedBlas();
  ThreadPool setup(1);
  ModelWeights weights = MakeSyntheticModel(SmallConfig(), 5, setup);
  auto spec = ParseQuantSpec("q4_0");
  ASSERT_TRUE(spec.ok());
  auto scope = MakeScope("linear", {}, {}, weights.config.n_layer);
  ASSERT_TRUE(scope.ok());
  ASSERT_TRUE(QuantizeModel(weights, spec.value(), scope.value(), QuantMode::kPacked, setup).ok());
  GPT2 model(std::move(weights));

  const int64_t before = TrackedScratchBytes();
  const int64_t tracked_before = TrackedBytes();
  int64_t held = 0, peak_after_reset = 0;
  std::thread runner([&] {
    {
      ThreadPool pool(2);
      std::vector<int32_t> tokens(kPrefill, 1);
      KVCache cache(model.config(), 1, kPrefill);
      AlignedBuffer logits(static_cast<size_t>(kPrefill * model.config().n_vocab) * sizeof(float));
      model.Forward(tokens.data(), 1, kPrefill, cache, LogitsMode::kAll, logits.as<float>(), pool);
    }  // the pool's workers have ended: only this thread's scratch remains
    held = TrackedScratchBytes() - before;
    ResetTrackedPeak();
    peak_after_reset = TrackedPeakBytes() - tracked_before;
  });
  runner.join();
  EXPECT_GE(held, kPrefill * SmallConfig().n_inner);  // the calling thread's 8-bit activations
  EXPECT_GE(peak_after_reset, held);
  EXPECT_EQ(TrackedScratchBytes(), before);
  EXPECT_EQ(TrackedBytes(), tracked_before);
}

}  // namespace
}  // namespace gpt2q
