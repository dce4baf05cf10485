// RunAwq: llm-awq's run_awq over the calibration replay.
#include "quant/awq_method.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>

#include "calib/folds.h"
#include "calib/replay.h"
#include "core/aligned_buffer.h"
#include "formats/fp32_matrix.h"
#include "formats/int_group.h"
#include "formats/minmax_quantizer.h"
#include "model/block.h"
#include "quant/awq_scale_search.h"
#include "quant/calibrated_tensor.h"
#include "quant/gram_loss.h"
#include "quant/hessian.h"

namespace gpt2q {
namespace {

// The scaled linear of each scale group.
constexpr std::array<BlockLinear, kAwqScaleGroups> kScaled = {BlockLinear::kAttnCAttn, BlockLinear::kAttnCProj,
                                                              BlockLinear::kMlpCFc, BlockLinear::kMlpCProj};
// What the searches keep of one scaled linear's fp32 inputs over all windows.
struct Collected {
  std::vector<float> x;                        // [R, in]: groups whose compared module is not linear
  std::vector<double> abs_sum;                 // Σ_t |x_tj|, for x̄
  std::unique_ptr<HessianAccumulator> gram;    // groups compared on the linear alone
  std::vector<float> clip_rows;                // rows t ≡ 0 (mod AwqClipStride(R)), as AwqClipTokens
  int64_t seen = 0;                            // rows so far
};

// Groups 0 and 2 compare a module (attention, MLP); 1 and 3 the linear alone.
bool IsModuleGroup(int g) { return g == 0 || g == 2; }

std::string LinearName(int64_t block, BlockLinear which) {
  return "h." + std::to_string(block) + "." + BlockLinearName(which) + ".weight";
}

std::shared_ptr<WeightMatrix> OwnedFp32(const std::vector<float>& values, int64_t rows, int64_t cols) {
  auto buffer = std::make_shared<AlignedBuffer>(values.size() * sizeof(float));
  std::memcpy(buffer->data(), values.data(), values.size() * sizeof(float));
  const float* data = buffer->as<float>();
  return std::make_shared<Fp32Matrix>(data, rows, cols, Fp32Layout::kOutIn, std::move(buffer));
}

// Q(W·diag(s))·diag(1/s) for W [rows, cols]: AWQ's quantizer per group of the
// scaled row, then divided back (llm-awq: fc.weight.mul_(s); w_quantize(w) / s).
std::vector<float> QuantizeScaled(const std::vector<float>& w, int64_t rows, int64_t cols, const float* s, int bits,
                                  int64_t group, ThreadPool& pool) {
  std::vector<float> out(w.size());
  const int64_t gs = group == -1 ? cols : group;
  const int32_t maxq = MaxCode(bits);
  pool.ParallelFor(rows, [&](int64_t r) {
    std::vector<float> v(static_cast<size_t>(cols));
    for (int64_t c = 0; c < cols; ++c) v[c] = w[r * cols + c] * s[c];
    for (int64_t c0 = 0; c0 < cols; c0 += gs) {
      const int64_t len = std::min(gs, cols - c0);
      const GroupQuant g = AwqGroupQuant(v.data() + c0, len, bits);
      for (int64_t c = c0; c < c0 + len; ++c) out[r * cols + c] = DequantizeCode(QuantizeToCode(v[c], g, maxq), g) / s[c];
    }
  });
  return out;
}

// Σ (a − b)² over n values, in double.
double SquaredDiff(const float* a, const float* b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = double(a[i]) - double(b[i]);
    s += d * d;
  }
  return s;
}

std::string Num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

}  // namespace

FormatParams AwqToFormat(const FormatParams& p) { return {{"bits", p.at("bits")}, {"group", p.at("group")}, {"sym", 0}}; }

Status ValidateAwq(const FormatParams& p) {
  GPT2Q_RETURN_IF_ERROR(ParseIntGroupOptions("method awq", AwqToFormat(p)).status());
  const double clip = p.at("clip"), grid = p.at("grid");
  if (clip != 0 && clip != 1) return Status::Error("method awq: option clip=" + Num(clip) + ": expected 0 or 1");
  if (!std::isfinite(grid) || grid != std::floor(grid) || grid < 1 || grid > 1000) {
    return Status::Error("method awq: option grid=" + Num(grid) + ": expected a whole number in 1..1000");
  }
  return OkStatus();
}

Status RunAwq(const CalibrateArgs& args, QuantizeReport* report, std::vector<AwqBlockLog>* log) {
  ModelWeights& weights = *args.weights;
  ThreadPool& pool = *args.pool;
  const FormatParams& p = args.spec->params;
  GPT2Q_RETURN_IF_ERROR(ValidateAwq(p));
  const int bits = static_cast<int>(p.at("bits"));
  const int64_t group = static_cast<int64_t>(p.at("group"));
  const bool clip = p.at("clip") != 0;
  const int grid = static_cast<int>(p.at("grid"));
  if (args.windows == nullptr) {
    return Status::Error("method " + args.spec->ToString() + " is calibrated: it needs calibration text (--calib)");
  }
  IntGroupOptions format_options;
  format_options.bits = bits;
  format_options.group = group;
  format_options.sym = false;
  const CalibrationWindows& windows = *args.windows;
  const int64_t n_layer = weights.config.n_layer, C = weights.config.n_embd;
  const int64_t R = windows.rows();
  BlockReplay replay(weights, windows, pool);
  const int64_t stride = AwqClipStride(R);
  for (int64_t b = 0; b < n_layer; ++b) {
    BlockWeights& block = weights.blocks[b];
    AwqBlockLog entry;
    entry.block = b;
    std::array<bool, kAwqScaleGroups> selected;
    bool any = false;
    for (int g = 0; g < kAwqScaleGroups; ++g) {
      selected[g] = args.scope->Selects(LinearName(b, kScaled[g]), ParamKind::kLinear);
      any |= selected[g];
    }
    // One run of the fp32 block collects what the four searches need and
    // advances the replay (every activation comes from the fp32 model).
    std::array<Collected, kAwqScaleGroups> inputs;
    for (int g = 0; g < kAwqScaleGroups; ++g) {
      if (!selected[g]) continue;
      const int64_t in = BlockLinearMatrix(block, kScaled[g])->cols();
      inputs[g].abs_sum.assign(static_cast<size_t>(in), 0.0);
      if (IsModuleGroup(g)) {
        inputs[g].x.resize(static_cast<size_t>(R * in));
      } else {
        inputs[g].gram = std::make_unique<HessianAccumulator>(in);
      }
    }
    BlockHooks hooks;
    hooks.on_linear_input = [&](BlockLinear seen, const float* x, int64_t rows, int64_t cols) {
      const int g = static_cast<int>(seen);  // kScaled[g] == BlockLinear(g)
      if (!selected[g]) return;
      Collected& c = inputs[g];
      for (int64_t t = 0; t < rows; ++t) {
        const float* row = x + t * cols;
        for (int64_t j = 0; j < cols; ++j) c.abs_sum[j] += std::fabs(row[j]);
        if ((c.seen + t) % stride == 0) c.clip_rows.insert(c.clip_rows.end(), row, row + cols);
      }
      if (!c.x.empty()) std::memcpy(c.x.data() + c.seen * cols, x, static_cast<size_t>(rows * cols) * sizeof(float));
      if (c.gram) c.gram->Add(x, rows, rows / windows.len, pool);
      c.seen += rows;
    };
    replay.Advance(block, any ? &hooks : nullptr);
    if (!any) {
      if (args.progress) args.progress(b + 1, n_layer);
      continue;
    }

    std::array<std::vector<float>, kAwqScaleGroups> scales;
    for (int g = 0; g < kAwqScaleGroups; ++g) {
      if (!selected[g]) continue;
      const BlockLinear which = kScaled[g];
      const WeightMatrix& m = *BlockLinearMatrix(block, which);
      const int64_t in = m.cols(), out = m.rows();
      Collected& c = inputs[g];
      std::vector<float> x_mean(static_cast<size_t>(in));
      for (int64_t j = 0; j < in; ++j) x_mean[j] = static_cast<float>(c.abs_sum[j] / static_cast<double>(R));
      const std::vector<float> w = DequantizeAll(m, pool);
      AwqLossFn loss;
      std::vector<float> reference, candidate, gram;
      if (IsModuleGroup(g)) {
        // The compared module (attention or MLP) with fp32 weights, then with the candidate.
        reference.resize(static_cast<size_t>(R * C));
        candidate.resize(reference.size());
        auto run_module = [&](const BlockWeights& bw, float* y) {
          if (which == BlockLinear::kAttnCAttn) {
            replay.RunAttentionModule(bw, c.x.data(), y);
          } else {
            replay.RunMlpModule(bw, c.x.data(), y);
          }
        };
        run_module(block, reference.data());
        // run_module by value: `loss` runs after this scope has ended.
        loss = [&, run_module](std::span<const float> s) {
          BlockWeights trial = block;
          BlockLinearMatrix(trial, which) =
              OwnedFp32(QuantizeScaled(w, out, in, s.data(), bits, group, pool), out, in);
          run_module(trial, candidate.data());
          return SquaredDiff(candidate.data(), reference.data(), R * C) / static_cast<double>(R * C);
        };
      } else {
        // The linear alone: ‖X·(W' − W)ᵀ‖² from XᵀX = H·N/2 (HessianAccumulator's H).
        gram = c.gram->Symmetric();
        const double gram_scale = static_cast<double>(c.gram->n_samples()) / 2.0;
        loss = [&, gram_scale](std::span<const float> s) {  // gram_scale by value, as run_module above
          const std::vector<float> q = QuantizeScaled(w, out, in, s.data(), bits, group, pool);
          return GramOutputLoss(w.data(), q.data(), out, in, gram, gram_scale, R, pool);
        };
      }
      auto choice = AwqSearchScales(x_mean, grid, loss);
      if (!choice.ok()) return Status::Error(LinearName(b, which) + ": " + choice.message());
      entry.ratio[g] = choice->ratio;
      entry.margin[g] = choice->margin;
      entry.losses[g] = choice->losses;
      scales[g] = std::move(choice->scales);
      c.x = std::vector<float>();  // free the inputs before the next group's buffers
    }

    // Apply the four scalings, in llm-awq's order.
    if (selected[0]) {
      DivideLayerNorm(weights, block.ln_1_weight, block.ln_1_bias, scales[0].data());
      MultiplyInputs(block.attn_c_attn, scales[0].data(), pool);
    }
    if (selected[1]) {
      DivideOutputs(weights, block.attn_c_attn, block.attn_c_attn_bias, 2 * C, C, scales[1].data(), pool);
      MultiplyInputs(block.attn_c_proj, scales[1].data(), pool);
    }
    if (selected[2]) {
      DivideLayerNorm(weights, block.ln_2_weight, block.ln_2_bias, scales[2].data());
      MultiplyInputs(block.mlp_c_fc, scales[2].data(), pool);
    }
    if (selected[3]) {
      DivideGeluOutput(weights, block, scales[3].data());
      MultiplyInputs(block.mlp_c_proj, scales[3].data(), pool);
    }

    // Clip, then round to nearest into int-group.
    for (int g = 0; g < kAwqScaleGroups; ++g) {
      if (!selected[g]) continue;
      const BlockLinear which = kScaled[g];
      const std::string name = LinearName(b, which);
      std::shared_ptr<WeightMatrix>& m = BlockLinearMatrix(block, which);
      const int64_t rows = m->rows(), cols = m->cols();
      const std::vector<float> scaled = DequantizeAll(*m, pool);
      std::vector<float> w = scaled;
      if (clip) {
        std::vector<float>& tokens = inputs[g].clip_rows;
        const int64_t n_tokens = static_cast<int64_t>(tokens.size()) / cols;
        for (int64_t t = 0; t < n_tokens; ++t) {
          for (int64_t j = 0; j < cols; ++j) tokens[t * cols + j] /= scales[g][j];
        }
        auto clipped = AwqClipSearch(name, w.data(), rows, cols, tokens.data(), n_tokens, bits, group, pool);
        if (!clipped.ok()) return clipped.status();
        for (uint8_t step : clipped->step) ++entry.clip_histogram[g][step];
      }
      const int64_t gs = group == -1 ? cols : group, n_groups = (cols + gs - 1) / gs;
      std::vector<GroupQuant> params(static_cast<size_t>(rows * n_groups));
      std::vector<int32_t> codes(static_cast<size_t>(rows * cols));
      const int32_t maxq = MaxCode(bits);
      pool.ParallelFor(rows, [&](int64_t r) {
        for (int64_t gi = 0; gi < n_groups; ++gi) {
          const int64_t c0 = gi * gs, len = std::min(gs, cols - c0);
          const GroupQuant gq = AwqGroupQuant(w.data() + r * cols + c0, len, bits);
          params[r * n_groups + gi] = gq;
          for (int64_t c = c0; c < c0 + len; ++c) codes[r * cols + c] = QuantizeToCode(w[r * cols + c], gq, maxq);
        }
      });
      auto matrix = IntGroupMatrix::FromGroupQuant(rows, cols, format_options, params.data(), codes.data());
      if (!matrix.ok()) return Status::Error(name + ": " + matrix.message());
      QuantizedTensor q = FinishCalibratedTensor(name, scaled, std::move(matrix).value(), args.mode, pool);
      m = q.matrix;
      report->tensors.push_back(q.stats);
    }
    if (selected[3] && args.mode == QuantMode::kSimulate) FoldGeluScale(block, pool);
    if (log != nullptr) log->push_back(entry);
    if (args.progress) args.progress(b + 1, n_layer);
  }
  report->notes.push_back("awq: " + std::to_string(windows.n) + " calibration windows of " +
                          std::to_string(windows.len) +
                          " tokens; scales folded into ln_1/ln_2, c_attn's V columns and the GELU output" +
                          (args.mode == QuantMode::kPacked ? " (kept as the blocks' act_scale vectors)" : "") +
                          "; tensor errors are against the scaled fp32 weights");
  return OkStatus();
}

Status CalibrateAwq(const CalibrateArgs& args, QuantizeReport* report) { return RunAwq(args, report, nullptr); }

}  // namespace gpt2q
