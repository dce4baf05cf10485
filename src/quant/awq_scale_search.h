// AWQ's activation-aware scale search for one scale group (llm-awq
// auto_scale.py _search_module_scale): a grid over the exponent r of
// s = x̄^r, the loss of each candidate measured by the caller.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "core/status.h"

namespace gpt2q {

// Returns the loss of quantizing the scale group's layers with per-input-channel
// scales s (one per channel of x̄): the caller applies Q(W·diag(s))·diag(1/s) to
// the group's layers, runs the compared module and returns the mean squared
// difference of its output against fp32.
using AwqLossFn = std::function<double(std::span<const float> scales)>;

struct AwqScaleChoice {
  int ratio_index = 0;          // k of the winning r = k/grid
  double ratio = 0;             // k/grid
  std::vector<float> scales;    // the winning s, one per input channel
  double margin = 0;            // (second-lowest loss − lowest)/lowest; see AwqSearchScales
  std::vector<double> losses;   // the loss of every grid point, k = 0..grid−1
};

// Returns the candidate scales for ratio r: s = max(x̄^r, 1e-4) in fp32, then
// s /= sqrt(max s · min s), as llm-awq computes them.
std::vector<float> AwqScalesForRatio(std::span<const float> x_mean, float ratio);

// Searches r in {0, 1/grid, …, (grid−1)/grid}: for each, scales =
// AwqScalesForRatio(x̄, r) and loss = loss_fn(scales); the lowest loss wins,
// strictly (ties keep the smaller r). x_mean: mean |x| per input channel over
// all calibration tokens (≥ 0, finite). margin = (second-lowest − lowest)/lowest
// over all grid losses (0 when two grid points tie for lowest; +inf when the
// lowest loss is 0 and the runner-up is not, or when no other grid point has a
// finite loss, e.g. grid = 1). A NaN or infinite loss never wins. Returns an
// error when grid < 1, x_mean is empty or holds a negative or non-finite value,
// or no grid point has a finite loss (llm-awq would fail there too).
Result<AwqScaleChoice> AwqSearchScales(std::span<const float> x_mean, int grid, const AwqLossFn& loss_fn);

}  // namespace gpt2q
