// AwqSearchScales: the ratio grid of llm-awq's auto_scale.
#include "quant/awq_scale_search.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace gpt2q {

std::vector<float> AwqScalesForRatio(std::span<const float> x_mean, float ratio) {
  std::vector<float> s(x_mean.size());
  for (size_t j = 0; j < x_mean.size(); ++j) s[j] = std::max(std::pow(x_mean[j], ratio), 1e-4f);
  if (s.empty()) return s;
  const auto [lo, hi] = std::minmax_element(s.begin(), s.end());
  const float norm = std::sqrt(*hi * *lo);
  for (float& v : s) v /= norm;
  return s;
}

Result<AwqScaleChoice> AwqSearchScales(std::span<const float> x_mean, int grid, const AwqLossFn& loss_fn) {
  if (grid < 1) return Status::Error("awq: option grid: expected at least 1, got " + std::to_string(grid));
  if (x_mean.empty()) return Status::Error("awq: scale search: no input channels");
  for (size_t j = 0; j < x_mean.size(); ++j) {
    if (!std::isfinite(x_mean[j]) || x_mean[j] < 0) {
      return Status::Error("awq: scale search: mean |x| of input channel " + std::to_string(j) +
                           " is expected finite and >= 0, got " + std::to_string(x_mean[j]));
    }
  }
  AwqScaleChoice choice;
  choice.ratio_index = -1;
  double best = std::numeric_limits<double>::infinity();
  for (int k = 0; k < grid; ++k) {
    // llm-awq: ratio = k * 1 / n_grid in double, then x_max.pow(ratio) on fp32.
    const double ratio = static_cast<double>(k) / static_cast<double>(grid);
    std::vector<float> scales = AwqScalesForRatio(x_mean, static_cast<float>(ratio));
    const double loss = loss_fn(scales);
    choice.losses.push_back(loss);
    if (loss < best) {  // strictly lower wins; NaN never compares lower
      best = loss;
      choice.ratio_index = k;
      choice.ratio = ratio;
      choice.scales = std::move(scales);
    }
  }
  if (choice.ratio_index < 0) {
    return Status::Error("awq: scale search: no candidate has a finite loss (" + std::to_string(grid) +
                         " tried)");
  }
  double runner_up = std::numeric_limits<double>::infinity();
  for (int k = 0; k < grid; ++k) {
    if (k != choice.ratio_index && choice.losses[k] < runner_up) runner_up = choice.losses[k];
  }
  if (best == 0 || std::isinf(runner_up)) {
    choice.margin = runner_up == best ? 0.0 : std::numeric_limits<double>::infinity();
  } else {
    choice.margin = (runner_up - best) / best;
  }
  return choice;
}

}  // namespace gpt2q
