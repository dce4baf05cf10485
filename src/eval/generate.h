// Text generation with the KV cache: prefill the prompt once, then decode one
// token at a time, like Hugging Face's generate().
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "eval/sampling.h"
#include "model/gpt2.h"
#include "text/tokenizer.h"

namespace gpt2q {

struct GenerateOptions {
  // Prompt + new tokens, as generate(max_length=...). Must be <= n_ctx.
  int64_t max_length = 50;
  // When set, overrides max_length: max_length = prompt tokens + max_new_tokens.
  std::optional<int64_t> max_new_tokens;
  SamplingOptions sampling;
  uint64_t seed = 0;
  bool stop_at_eos = true;  // stop after generating eos (the eos is kept)
  // Called with every new token as soon as it is chosen.
  std::function<void(int32_t token)> on_token;
};

struct GenerateResult {
  std::vector<int32_t> ids;  // prompt (or eos when the prompt is empty) + new tokens
  int64_t prompt_tokens = 0;
  int64_t new_tokens = 0;
  bool stopped_at_eos = false;
  double prefill_s = 0, decode_s = 0;
  double prefill_tokens_per_s = 0;  // prompt tokens / prefill time
  double decode_tokens_per_s = 0;   // decoded tokens (after the first) / decode time
};

// Continues `prompt` (token ids; an empty prompt starts from eos, as HF does
// with bos = eos for GPT-2). Returns the prompt unchanged when it already has
// max_length tokens or more. Fails if a prompt id is outside [0, n_vocab),
// max_length (or prompt + max_new_tokens) exceeds n_ctx, max_new_tokens < 0,
// or the sampling options are invalid.
Result<GenerateResult> Generate(const GPT2& model, std::vector<int32_t> prompt,
                                const GenerateOptions& options, ThreadPool& pool);

struct GeneratedText {
  GenerateResult result;
  std::string text;  // Decode(result.ids): the prompt followed by the continuation
};

// Encodes `prompt` with `tokenizer`, generates, and decodes the ids.
Result<GeneratedText> GenerateText(const GPT2& model, const Tokenizer& tokenizer,
                                   const std::string& prompt, const GenerateOptions& options,
                                   ThreadPool& pool);

}  // namespace gpt2q
