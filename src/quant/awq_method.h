// The `awq` method on the calibration layer (mit-han-lab llm-awq): per block,
// four activation-aware scale searches on the fp32 block, the scales folded
// into the model, the clipping search, then round-to-nearest with AWQ's
// quantizer into int-group.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "core/status.h"
#include "quant/awq_clip.h"
#include "quant/quant_spec.h"
#include "quant/quantize_model.h"

namespace gpt2q {

// The scale groups of a GPT-2 block, in llm-awq's order: ln_1 → attn.c_attn
// (compared: the attention module), V columns of c_attn → attn.c_proj
// (c_proj), ln_2 → mlp.c_fc (the MLP), GELU output → mlp.c_proj (c_proj).
inline constexpr int kAwqScaleGroups = 4;

// What AWQ decided in one block (for tests and diagnostics).
struct AwqBlockLog {
  int64_t block = 0;
  std::array<double, kAwqScaleGroups> ratio = {-1, -1, -1, -1};   // −1: group not searched
  std::array<double, kAwqScaleGroups> margin = {0, 0, 0, 0};      // see AwqScaleChoice
  std::array<std::vector<double>, kAwqScaleGroups> losses;        // per grid point
  // (row, group) pairs per chosen clip step, per linear (c_attn, attn.c_proj, c_fc, mlp.c_proj).
  std::array<std::array<int64_t, kAwqClipSteps>, kAwqScaleGroups> clip_histogram = {};
};

// For each block: the fp32 block's inputs of each selected linear over all
// windows (the replay advances with the fp32 block: every activation comes
// from the fp32 model); the scale search of each group whose scaled linear the
// scope selects, all on the unmodified block; the scales applied (previous op
// ÷ s, the linear's input channels × s, the kept inputs ÷ s); with clip=1 the
// clip search of each selected linear on its inputs subsampled to about 512
// rows; then every selected linear rounded to nearest with AWQ's quantizer into
// int-group. Simulate mode folds the GELU scale into mlp.c_proj afterwards;
// packed mode keeps it as the block's act_scale vector. Tensor errors are
// measured against the scaled fp32 weights (the clipping shows in them).
Status RunAwq(const CalibrateArgs& args, QuantizeReport* report, std::vector<AwqBlockLog>* log);

// The method table's checks of awq's options, at parse time: bits 2/3/4/8,
// group −1 or a whole number ≥ 1, clip 0/1, grid a whole number in 1..1000;
// errors name the option and the valid values.
Status ValidateAwq(const FormatParams& params);

// awq's options as int-group's: bits, group, sym = 0 (AWQ's grid is asymmetric).
FormatParams AwqToFormat(const FormatParams& params);

// The method table's hook: RunAwq without a log.
Status CalibrateAwq(const CalibrateArgs& args, QuantizeReport* report);

}  // namespace gpt2q
