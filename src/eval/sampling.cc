// Token sampling (see sampling.h).
#include "eval/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

namespace gpt2q {

Status ValidateSamplingOptions(const SamplingOptions& options) {
  if (!(options.temperature > 0) || !std::isfinite(options.temperature)) {
    return Status::Error("sampling: temperature " + std::to_string(options.temperature) +
                         " must be > 0 (use greedy decoding for argmax)");
  }
  if (options.top_k < 0) {
    return Status::Error("sampling: top_k " + std::to_string(options.top_k) + " must be >= 0 (0 = off)");
  }
  if (!(options.top_p > 0 && options.top_p <= 1)) {
    return Status::Error("sampling: top_p " + std::to_string(options.top_p) + " must be in (0, 1]");
  }
  return OkStatus();
}

int32_t Argmax(const float* logits, int64_t n_vocab) {
  int64_t best = 0;
  for (int64_t v = 1; v < n_vocab; ++v) {
    if (logits[v] > logits[best]) best = v;
  }
  return static_cast<int32_t>(best);
}

std::vector<double> FilteredProbabilities(const float* logits, int64_t n_vocab,
                                          const SamplingOptions& options) {
  // Token ids by decreasing logit, ties by increasing id (a total order, so the
  // result is the same for every sort algorithm). Only the top k need sorting.
  std::vector<int32_t> order(n_vocab);
  std::iota(order.begin(), order.end(), 0);
  auto before = [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  int64_t keep = n_vocab;
  if (options.top_k > 0) keep = std::min(keep, options.top_k);
  std::partial_sort(order.begin(), order.begin() + keep, order.end(), before);

  // Softmax of logits / temperature over the kept tokens, in double.
  std::vector<double> probs(n_vocab, 0.0);
  const double max_scaled = logits[order[0]] / options.temperature;
  double sum = 0;
  for (int64_t i = 0; i < keep; ++i) {
    double p = std::exp(logits[order[i]] / options.temperature - max_scaled);
    probs[order[i]] = p;
    sum += p;
  }
  for (int64_t i = 0; i < keep; ++i) probs[order[i]] /= sum;

  if (options.top_p < 1.0) {
    // HF's TopPLogitsWarper: the smallest prefix (by decreasing probability)
    // whose cumulative probability reaches top_p, at least one token.
    double cumulative = 0;
    int64_t nucleus = 0;
    while (nucleus < keep) {
      cumulative += probs[order[nucleus]];
      ++nucleus;
      if (cumulative >= options.top_p) break;
    }
    double kept_sum = 0;
    for (int64_t i = 0; i < nucleus; ++i) kept_sum += probs[order[i]];
    for (int64_t i = nucleus; i < keep; ++i) probs[order[i]] = 0.0;
    for (int64_t i = 0; i < nucleus; ++i) probs[order[i]] /= kept_sum;
  }
  return probs;
}

int32_t Sampler::Sample(const float* logits, int64_t n_vocab) {
  if (options_.greedy) return Argmax(logits, n_vocab);
  std::vector<double> probs = FilteredProbabilities(logits, n_vocab, options_);
  // A uniform double in [0, 1) from the top 53 bits: identical on every
  // standard library, unlike std::uniform_real_distribution.
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
  double cumulative = 0;
  int32_t last_nonzero = 0;
  for (int64_t v = 0; v < n_vocab; ++v) {
    if (probs[v] == 0.0) continue;
    cumulative += probs[v];
    last_nonzero = static_cast<int32_t>(v);
    if (u < cumulative) return last_nonzero;
  }
  return last_nonzero;  // rounding left the cumulative sum just below u
}

}  // namespace gpt2q
