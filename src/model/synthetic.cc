// Synthetic GPT-2 models: every tensor filled from a counter-based generator,
// so the values depend on (seed, tensor, index) only, never on thread count.
#include "model/synthetic.h"

#include <cmath>
#include <memory>

#include "core/aligned_buffer.h"
#include "formats/fp32_matrix.h"

namespace gpt2q {
namespace {

// SplitMix64: a counter-based hash, good enough to seed weights.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

constexpr float kStd = 0.02f;            // GPT-2's initializer_range
constexpr int64_t kValuesPerTask = 1 << 16;

class SyntheticBuilder {
 public:
  SyntheticBuilder(ModelWeights& weights, uint64_t seed, ThreadPool& pool)
      : weights_(weights), seed_(seed), pool_(pool) {}

  // Returns a buffer of `count` values: N(0, kStd²) when `normal`, else all `constant`.
  std::shared_ptr<AlignedBuffer> Fill(int64_t count, bool normal, float constant = 0.0f) {
    auto buffer = std::make_shared<AlignedBuffer>(count * sizeof(float));
    float* data = buffer->as<float>();
    const uint64_t stream = Mix(seed_ ^ (++tensor_ * 0x632be59bd9b4e019ull));
    const int64_t tasks = (count + kValuesPerTask - 1) / kValuesPerTask;
    pool_.ParallelFor(tasks, [&](int64_t t) {
      const int64_t end = std::min(count, (t + 1) * kValuesPerTask);
      for (int64_t i = t * kValuesPerTask; i < end; ++i) {
        if (!normal) {
          data[i] = constant;
          continue;
        }
        // Box-Muller on two 32-bit uniforms from one 64-bit hash.
        const uint64_t h = Mix(stream + static_cast<uint64_t>(i));
        const float u1 = (static_cast<float>(h >> 40) + 1.0f) * 0x1p-24f;  // (0, 1]
        const float u2 = static_cast<float>((h >> 16) & 0xffffff) * 0x1p-24f;
        data[i] = kStd * std::sqrt(-2.0f * std::log(u1)) * std::cos(6.2831853f * u2);
      }
    });
    return buffer;
  }
  FloatSpan Vector(int64_t count, bool normal, float constant = 0.0f) {
    std::shared_ptr<AlignedBuffer> buffer = Fill(count, normal, constant);
    weights_.owners.push_back(buffer);
    return {buffer->as<float>(), count};
  }
  // A matrix owning its values (so that quantizing it releases them).
  std::shared_ptr<WeightMatrix> Matrix(int64_t rows, int64_t cols, Fp32Layout layout) {
    std::shared_ptr<AlignedBuffer> buffer = Fill(rows * cols, true);
    const float* data = buffer->as<float>();
    return std::make_shared<Fp32Matrix>(data, rows, cols, layout, std::move(buffer));
  }
  // A Conv1D weight stored [in, out], as checkpoints hold it.
  std::shared_ptr<WeightMatrix> Linear(int64_t in, int64_t out) { return Matrix(out, in, Fp32Layout::kInOut); }

 private:
  ModelWeights& weights_;
  uint64_t seed_;
  ThreadPool& pool_;
  uint64_t tensor_ = 0;
};

}  // namespace

ModelWeights MakeSyntheticModel(const GPT2Config& config, uint64_t seed, ThreadPool& pool) {
  ModelWeights w;
  w.config = config;
  SyntheticBuilder b(w, seed, pool);
  const int64_t C = config.n_embd, F = config.n_inner;
  w.wte = b.Matrix(config.n_vocab, C, Fp32Layout::kOutIn);
  w.lm_head = w.wte;
  w.wpe = b.Vector(config.n_ctx * C, true);
  for (int64_t l = 0; l < config.n_layer; ++l) {
    BlockWeights blk;
    blk.ln_1_weight = b.Vector(C, false, 1.0f);
    blk.ln_1_bias = b.Vector(C, false);
    blk.attn_c_attn = b.Linear(C, 3 * C);
    blk.attn_c_attn_bias = b.Vector(3 * C, false);
    blk.attn_c_proj = b.Linear(C, C);
    blk.attn_c_proj_bias = b.Vector(C, false);
    blk.ln_2_weight = b.Vector(C, false, 1.0f);
    blk.ln_2_bias = b.Vector(C, false);
    blk.mlp_c_fc = b.Linear(C, F);
    blk.mlp_c_fc_bias = b.Vector(F, false);
    blk.mlp_c_proj = b.Linear(F, C);
    blk.mlp_c_proj_bias = b.Vector(C, false);
    w.blocks.push_back(std::move(blk));
  }
  w.ln_f_weight = b.Vector(C, false, 1.0f);
  w.ln_f_bias = b.Vector(C, false);
  return w;
}

}  // namespace gpt2q
