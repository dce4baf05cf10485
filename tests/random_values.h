// Deterministic Gaussian test data, shared by the test programs.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace gpt2q::testing {

// Returns n values drawn from N(0, sigma²) by a mt19937 seeded with `seed`.
inline std::vector<float> Gaussian(int64_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

}  // namespace gpt2q::testing
