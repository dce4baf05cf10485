// Weight histograms for compare and hist (see weight_histograms.h).
#include "weight_histograms.h"

#include <set>

namespace gpt2q {

// Fills the histogram of `quantized`'s tensors named in `stats` against `original`.
Result<HistogramData> WeightHistogram(const std::string& model_name, const std::string& label,
                                      const ModelWeights& original, const ModelWeights& quantized,
                                      const std::vector<TensorStats>& stats, const HistogramOptions& options,
                                      ThreadPool& pool) {
  std::set<std::string> names;
  for (const auto& t : stats) names.insert(t.name);
  std::vector<std::vector<float>> before, after;
  auto collect = [&](const ModelWeights& w, std::vector<std::vector<float>>& out) {
    ForEachMatrix(const_cast<ModelWeights&>(w),
                  [&](const std::string& name, ParamKind, std::shared_ptr<WeightMatrix>& m) {
                    if (names.count(name)) out.push_back(DequantizeAll(*m, pool));
                  });
    ForEachVector(const_cast<ModelWeights&>(w), [&](const std::string& name, ParamKind, FloatSpan& s) {
      if (names.count(name)) out.emplace_back(s.data, s.data + s.size);
    });
  };
  collect(original, before);
  collect(quantized, after);
  // A head untied by the scope is listed under its own name in the quantized model only.
  if (names.count("lm_head.weight") && original.head_tied()) before.push_back(DequantizeAll(*original.lm_head, pool));
  std::vector<std::span<const float>> a, b;
  for (const auto& v : before) a.emplace_back(v);
  for (const auto& v : after) b.emplace_back(v);
  return MakeHistogram(model_name, label, a, b, options);
}

// The histogram counts behind weights.png, so they can be checked or re-plotted.
nlohmann::json HistogramsToJson(const std::vector<HistogramData>& histograms) {
  nlohmann::json out = nlohmann::json::array();
  for (const HistogramData& h : histograms) {
    out.push_back({{"model", h.model_name},
                   {"method", h.method_label},
                   {"bin_edges", h.bin_edges},
                   {"original_counts", h.original_counts},
                   {"quantized_counts", h.quantized_counts},
                   {"original_plotted", h.original_plotted},
                   {"quantized_plotted", h.quantized_plotted},
                   {"original_total", h.original_total},
                   {"quantized_total", h.quantized_total}});
  }
  return out;
}

}  // namespace gpt2q
