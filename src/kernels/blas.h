// BLAS set-up: gpt2q runs OpenBLAS single-threaded inside its own thread pool.
#pragma once

#include <cstdint>

namespace gpt2q {

// Makes OpenBLAS single-threaded (its threads would fight the pool for the
// cores). Safe to call more than once.
void UseSingleThreadedBlas();

// Returns the number of output columns one matmul task computes for an
// [n, in] x [in, out] product. Depends on the shape only, never on threads.
inline int64_t OutputChunk(int64_t n, int64_t out) {
  // Small n (decode) is bandwidth-bound: narrow chunks balance the cores.
  // Large n: wide enough that packing the activations is amortised.
  int64_t chunk = n <= 8 ? 64 : 256;
  return chunk < out ? chunk : out;
}

}  // namespace gpt2q
