// SmoothQuant: activation maxima from a block-by-block replay, smoothing
// folded into the LayerNorms and linears, then W8A8 int8-row.
#include "quant/smoothquant.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <string>

#include "calib/folds.h"
#include "calib/replay.h"
#include "quant/quantize_model.h"

namespace gpt2q {
namespace {

// Which linears a step of the method looks at.
constexpr std::array<BlockLinear, 4> kLinears = {BlockLinear::kAttnCAttn, BlockLinear::kAttnCProj,
                                                 BlockLinear::kMlpCFc, BlockLinear::kMlpCProj};

std::string LinearName(int64_t block, BlockLinear which) {
  return "h." + std::to_string(block) + "." + BlockLinearName(which) + ".weight";
}

// Per-channel max |x| over rows of x [rows, cols], merged into `max` [cols].
void ChannelMax(const float* x, int64_t rows, int64_t cols, std::vector<float>& max) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < cols; ++j) max[j] = std::max(max[j], std::fabs(x[r * cols + j]));
  }
}

}  // namespace

std::vector<float> SmoothingScales(const float* act_max, const float* w, int64_t rows, int64_t cols,
                                   float alpha) {
  std::vector<float> w_max(static_cast<size_t>(cols), 0.0f), s(static_cast<size_t>(cols));
  for (int64_t o = 0; o < rows; ++o) {
    for (int64_t j = 0; j < cols; ++j) w_max[j] = std::max(w_max[j], std::fabs(w[o * cols + j]));
  }
  for (int64_t j = 0; j < cols; ++j) {
    const float wj = std::max(w_max[j], 1e-5f);
    s[j] = std::max(std::pow(act_max[j], alpha) / std::pow(wj, 1.0f - alpha), 1e-5f);
  }
  return s;
}

Status CalibrateSmoothQuant(const CalibrateArgs& args, QuantizeReport* report) {
  ModelWeights& weights = *args.weights;
  ThreadPool& pool = *args.pool;
  const bool static_act = args.spec->params.at("act") == 1;
  const bool smooth = args.spec->method->name == "smoothquant";  // "w8a8": the same without smoothing
  const float alpha = smooth ? static_cast<float>(args.spec->params.at("alpha")) : 0.0f;
  GPT2Q_ASSIGN_OR_RETURN(const FormatTraits* format, FindFormat(args.spec->method->format));
  const int64_t n_layer = weights.config.n_layer;

  // Per-token W8A8 without smoothing needs no activations: no replay at all.
  if ((smooth || static_act) && args.windows == nullptr) {
    return Status::Error("method " + args.spec->ToString() + " is calibrated: it needs calibration text (--calib)");
  }
  std::unique_ptr<BlockReplay> replay;
  if (smooth || static_act) replay = std::make_unique<BlockReplay>(weights, *args.windows, pool);
  for (int64_t b = 0; b < n_layer; ++b) {
    BlockWeights& block = weights.blocks[b];
    std::array<bool, 4> selected;
    bool any = false;
    for (BlockLinear which : kLinears) {
      selected[static_cast<int>(which)] = args.scope->Selects(LinearName(b, which), ParamKind::kLinear);
      any |= selected[static_cast<int>(which)];
    }
    if (!any) {  // nothing to do here: the block only carries the replay forward
      if (replay && b + 1 < n_layer) replay->Advance(block);
      if (args.progress) args.progress(b + 1, n_layer);
      continue;
    }

    // (1) Activation maxima at the two smoothed inputs (ln_1 and ln_2 outputs)
    // of the fp32 model. With per-token activations the same pass carries the
    // replay on: the unsmoothed fp32 block's outputs are the fp32 model's
    // hidden states (smoothing only folds scales, so the smoothed fp32 block
    // computes the same function), and one pass per block is half the time.
    const bool smooth_attn = smooth && selected[0], smooth_mlp = smooth && selected[2];
    std::vector<float> ln1_max(static_cast<size_t>(weights.config.n_embd), 0.0f), ln2_max = ln1_max;
    bool advanced = false;
    if (smooth_attn || smooth_mlp) {
      BlockHooks hooks;
      hooks.on_linear_input = [&](BlockLinear which, const float* x, int64_t rows, int64_t cols) {
        if (which == BlockLinear::kAttnCAttn && smooth_attn) ChannelMax(x, rows, cols, ln1_max);
        if (which == BlockLinear::kMlpCFc && smooth_mlp) ChannelMax(x, rows, cols, ln2_max);
      };
      if (!static_act && b + 1 < n_layer) {
        replay->Advance(block, &hooks);
        advanced = true;
      } else {
        replay->Run(block, &hooks, nullptr);
      }
    }
    // (2) Fold the smoothing scales.
    if (smooth_attn) {
      const std::vector<float> w = DequantizeAll(*block.attn_c_attn, pool);
      const std::vector<float> s =
          SmoothingScales(ln1_max.data(), w.data(), block.attn_c_attn->rows(), block.attn_c_attn->cols(), alpha);
      DivideLayerNorm(weights, block.ln_1_weight, block.ln_1_bias, s.data());
      MultiplyInputs(block.attn_c_attn, s.data(), pool);
    }
    if (smooth_mlp) {
      const std::vector<float> w = DequantizeAll(*block.mlp_c_fc, pool);
      const std::vector<float> s =
          SmoothingScales(ln2_max.data(), w.data(), block.mlp_c_fc->rows(), block.mlp_c_fc->cols(), alpha);
      DivideLayerNorm(weights, block.ln_2_weight, block.ln_2_bias, s.data());
      MultiplyInputs(block.mlp_c_fc, s.data(), pool);
    }
    // (3) The smoothed fp32 block: static maxima (which need the smoothed
    // model's inputs at every linear), and the next block's inputs.
    std::array<float, 4> input_max = {0, 0, 0, 0};
    BlockHooks hooks;
    hooks.on_linear_input = [&](BlockLinear which, const float* x, int64_t rows, int64_t cols) {
      float& m = input_max[static_cast<int>(which)];
      for (int64_t i = 0; i < rows * cols; ++i) m = std::max(m, std::fabs(x[i]));
    };
    if (replay && !advanced && (static_act || b + 1 < n_layer)) {
      replay->Advance(block, static_act ? &hooks : nullptr);
    }

    // (4) W8A8 on the block's selected linears.
    for (BlockLinear which : kLinears) {
      if (!selected[static_cast<int>(which)]) continue;
      std::shared_ptr<WeightMatrix>& m = BlockLinearMatrix(block, which);
      FormatParams params = args.spec->method->to_format_params(args.spec->params);
      if (static_act) {
        params["act_delta"] = std::max(input_max[static_cast<int>(which)], 1e-5f) / 127.0f;
      }
      const std::vector<float> values = DequantizeAll(*m, pool);
      GPT2Q_ASSIGN_OR_RETURN(QuantizedTensor q, QuantizeTensor(LinearName(b, which), values, m->rows(),
                                                               m->cols(), *format, params, args.mode, pool));
      m = q.matrix;
      report->tensors.push_back(q.stats);
    }
    if (args.progress) args.progress(b + 1, n_layer);
  }
  if (smooth) {
    report->notes.push_back(
        "smoothquant: per-channel smoothing folded into ln_1/ln_2 (fp32) and the c_attn/c_fc input rows; "
        "tensor errors are against the smoothed fp32 weights");
  }
  if (args.mode == QuantMode::kSimulate) {
    report->notes.push_back(std::string(args.spec->method->name) + " simulate: weights int8 quantize-dequantized, activations stay fp32");
  }
  return OkStatus();
}

}  // namespace gpt2q
