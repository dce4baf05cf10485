// Synthetic GPT-2 models: random weights with the exact shapes of a config.
#pragma once

#include <cstdint>

#include "core/thread_pool.h"
#include "model/config.h"
#include "model/weights.h"

namespace gpt2q {

// Returns a model with `config`'s shapes: linear weights, wte and wpe drawn
// from N(0, 0.02²), LayerNorm gains 1, biases 0; head tied to wte. Memory is
// owned by aligned buffers in weights.owners. Deterministic for a given seed,
// whatever pool.num_threads().
ModelWeights MakeSyntheticModel(const GPT2Config& config, uint64_t seed, ThreadPool& pool);

}  // namespace gpt2q
