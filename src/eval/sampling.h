// Choosing the next token from a logits row: greedy, temperature, top-k, top-p
// (Hugging Face's warpers, in HF's order), with a seeded generator.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "core/status.h"

namespace gpt2q {

struct SamplingOptions {
  bool greedy = false;       // argmax; the other options are then unused
  double temperature = 1.0;  // logits are divided by it; must be > 0
  int64_t top_k = 0;         // keep the k most likely tokens; 0 = all
  double top_p = 1.0;        // keep the smallest set whose probability is >= top_p; in (0, 1]
};

// Returns an error naming the option if temperature <= 0, top_k < 0 or top_p
// is outside (0, 1].
Status ValidateSamplingOptions(const SamplingOptions& options);

// Returns the index of the largest logit (the first one on ties).
int32_t Argmax(const float* logits, int64_t n_vocab);

// Returns the probabilities [n_vocab] that sampling draws from after
// temperature, top-k and top-p: tokens filtered out have probability 0, the
// rest are renormalised. Ties at the top-k boundary keep the lower token ids.
std::vector<double> FilteredProbabilities(const float* logits, int64_t n_vocab,
                                          const SamplingOptions& options);

// Draws tokens with a std::mt19937_64 seeded once: the same seed and logits
// give the same tokens on every platform.
class Sampler {
 public:
  Sampler(const SamplingOptions& options, uint64_t seed) : options_(options), rng_(seed) {}

  // Returns the next token for a logits row [n_vocab].
  int32_t Sample(const float* logits, int64_t n_vocab);

 private:
  SamplingOptions options_;
  std::mt19937_64 rng_;
};

}  // namespace gpt2q
