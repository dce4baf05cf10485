// The weight histograms of compare and hist: a quantized model's tensors
// against the original's, and the counts behind the figure as JSON.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "core/thread_pool.h"
#include "model/weights.h"
#include "quant/quantize_model.h"
#include "report/histogram.h"

namespace gpt2q {

// Fills the histogram of `quantized`'s tensors named in `stats` against `original`.
Result<HistogramData> WeightHistogram(const std::string& model_name, const std::string& label,
                                      const ModelWeights& original, const ModelWeights& quantized,
                                      const std::vector<TensorStats>& stats, const HistogramOptions& options,
                                      ThreadPool& pool);

// The histogram counts behind weights.png, so they can be checked or re-plotted.
nlohmann::json HistogramsToJson(const std::vector<HistogramData>& histograms);

}  // namespace gpt2q
