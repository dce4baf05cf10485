// GPT2Config: the hyperparameters of a GPT-2 model, from config.json or a preset.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace gpt2q {

// The largest accepted shapes, whichever file they come from: far above any
// GPT-2, small enough that no product of shapes overflows.
inline constexpr int64_t kMaxVocab = 1'000'000;
inline constexpr int64_t kMaxCtx = 1 << 20;
inline constexpr int64_t kMaxEmbd = 1 << 16;
inline constexpr int64_t kMaxLayer = 1024;
inline constexpr int64_t kMaxInner = 1 << 18;

struct GPT2Config {
  int64_t n_vocab = 50257;
  int64_t n_ctx = 1024;     // n_positions
  int64_t n_embd = 768;
  int64_t n_layer = 12;
  int64_t n_head = 12;
  int64_t n_inner = 3072;   // 4 * n_embd when config.json says null
  float layer_norm_epsilon = 1e-5f;
  int32_t eos_token_id = 50256;

  int64_t head_dim() const { return n_embd / n_head; }
  // Returns the number of parameters (weights, biases, LayerNorms, tied head once).
  int64_t ParameterCount() const;
  // Multiply-adds × 2 of one forward pass over `n_tokens` tokens from an empty
  // cache: the blocks' linear layers, causal attention (QKᵀ and AV), and the
  // head for every position (all_logits) or the last one.
  double ForwardFlops(int64_t n_tokens, bool all_logits) const;
};

// Parses a Hugging Face config.json. Errors name the file, the key and
// expected vs actual (e.g. activation_function must be gelu_new).
Result<GPT2Config> ParseConfigJson(const std::string& path);
// Parses config.json text already in memory; `path` is only used in messages.
Result<GPT2Config> ParseConfigJsonText(const std::string& path, const std::string& text);

// Returns the exact shapes of gpt2, gpt2-medium, gpt2-large or gpt2-xl;
// an error listing the valid names otherwise.
Result<GPT2Config> PresetConfig(const std::string& name);

// Returns a config.json text (Hugging Face's keys) describing `config`.
std::string ConfigToJson(const GPT2Config& config);

}  // namespace gpt2q
