// Text generation with the KV cache (see generate.h).
#include "eval/generate.h"

#include <string>

#include "core/aligned_buffer.h"
#include "core/timer.h"
#include "model/kv_cache.h"

namespace gpt2q {

Result<GenerateResult> Generate(const GPT2& model, std::vector<int32_t> prompt,
                                const GenerateOptions& options, ThreadPool& pool) {
  const GPT2Config& config = model.config();
  GPT2Q_RETURN_IF_ERROR(ValidateSamplingOptions(options.sampling));
  if (prompt.empty()) prompt.push_back(config.eos_token_id);
  const int64_t prompt_len = static_cast<int64_t>(prompt.size());
  for (int64_t i = 0; i < prompt_len; ++i) {
    if (prompt[i] < 0 || prompt[i] >= config.n_vocab) {
      return Status::Error("generate: prompt token " + std::to_string(i) + " has id " +
                           std::to_string(prompt[i]) + ", expected [0, " +
                           std::to_string(config.n_vocab) + ")");
    }
  }
  int64_t max_length = options.max_length;
  if (options.max_new_tokens.has_value()) {
    if (*options.max_new_tokens < 0) {
      return Status::Error("generate: max_new_tokens " + std::to_string(*options.max_new_tokens) +
                           " must be >= 0");
    }
    max_length = prompt_len + *options.max_new_tokens;
  }
  if (max_length > config.n_ctx) {
    return Status::Error("generate: max_length " + std::to_string(max_length) +
                         " (prompt + new tokens) exceeds the model's context n_ctx = " +
                         std::to_string(config.n_ctx));
  }

  GenerateResult result;
  result.ids = prompt;
  result.prompt_tokens = prompt_len;
  if (prompt_len >= max_length) return result;

  const int64_t n_vocab = config.n_vocab;
  KVCache cache(config, 1, max_length);
  AlignedBuffer logits(static_cast<size_t>(n_vocab) * sizeof(float));
  Sampler sampler(options.sampling, options.seed);

  Stopwatch prefill_watch;
  model.Forward(prompt.data(), 1, prompt_len, cache, LogitsMode::kLast, logits.as<float>(), pool);
  int32_t token = sampler.Sample(logits.as<float>(), n_vocab);
  result.prefill_s = prefill_watch.Seconds();

  Stopwatch decode_watch;
  int64_t decoded = 0;  // Forward calls of one token
  while (true) {
    result.ids.push_back(token);
    ++result.new_tokens;
    if (options.on_token) options.on_token(token);
    if (options.stop_at_eos && token == config.eos_token_id) {
      result.stopped_at_eos = true;
      break;
    }
    if (static_cast<int64_t>(result.ids.size()) >= max_length) break;
    model.Forward(&token, 1, 1, cache, LogitsMode::kLast, logits.as<float>(), pool);
    token = sampler.Sample(logits.as<float>(), n_vocab);
    ++decoded;
  }
  result.decode_s = decode_watch.Seconds();
  result.prefill_tokens_per_s = result.prefill_s > 0 ? prompt_len / result.prefill_s : 0.0;
  result.decode_tokens_per_s = result.decode_s > 0 && decoded > 0 ? decoded / result.decode_s : 0.0;
  return result;
}

Result<GeneratedText> GenerateText(const GPT2& model, const Tokenizer& tokenizer,
                                   const std::string& prompt, const GenerateOptions& options,
                                   ThreadPool& pool) {
  GeneratedText out;
  GPT2Q_ASSIGN_OR_RETURN(out.result, Generate(model, tokenizer.Encode(prompt), options, pool));
  GPT2Q_ASSIGN_OR_RETURN(out.text, tokenizer.Decode(out.result.ids));
  return out;
}

}  // namespace gpt2q
