// The `gptq` method on the calibration layer: block by block, linear by linear
// in forward order, Hessians from the calibration windows as the model is
// quantized so far, then GptqQuantize (quant/gptq_solver.h) into int-group.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "model/block.h"
#include "quant/quant_spec.h"
#include "quant/quantize_model.h"

namespace gpt2q {

// What GPTQ decided for one linear (for tests and diagnostics).
struct GptqLayerLog {
  int64_t block = 0;
  BlockLinear which = BlockLinear::kAttnCAttn;
  double layer_error = 0;    // gptq.py's printed error, Σ (w − q)²/Hinv_ii²/2
  int64_t dead_columns = 0;  // input channels no calibration token reached
};

// For each block b in order, for each selected linear in the order c_attn,
// attn.c_proj, c_fc, mlp.c_proj: H from that linear's inputs over all windows
// (the block run with its earlier linears already quantized; blocks before b
// quantized), GPTQ with the spec's options, the result stored as int-group.
// Then block b as quantized produces block b+1's inputs. During calibration a
// quantized linear takes part as its dequantized fp32 values in both modes, so
// packed and simulate make the same decisions; packed mode then stores the
// int-group matrices. Appends one TensorStats per linear (errors against the
// fp32 weights) and, when `log` is not null, one GptqLayerLog per linear.
Status RunGptq(const CalibrateArgs& args, QuantizeReport* report, std::vector<GptqLayerLog>* log);

// The method table's checks of gptq's options, at parse time: bits 2/3/4/8,
// group −1 or a whole number ≥ 1, sym and act_order 0/1, damp finite ≥ 0,
// block a whole number ≥ 1; errors name the option and the valid values.
Status ValidateGptq(const FormatParams& params);

// gptq's options as int-group's: bits, group, sym.
FormatParams GptqToFormat(const FormatParams& params);

// The method table's hook: RunGptq without a log.
Status CalibrateGptq(const CalibrateArgs& args, QuantizeReport* report);

}  // namespace gpt2q
