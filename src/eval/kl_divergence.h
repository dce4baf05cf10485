// Agreement of a quantized model with the full-precision one on the same
// windows: KL divergence, top-1 agreement, change in the correct token's
// probability — the statistics of llama-perplexity --kl-divergence.
#pragma once

#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "eval/perplexity.h"
#include "model/gpt2.h"

namespace gpt2q {

struct KlStats {
  int64_t tokens = 0;
  double kld_mean = 0, kld_stderr = 0, kld_median = 0, kld_p99 = 0, kld_max = 0;
  double top1_agree = 0, top1_agree_stderr = 0;  // fraction of tokens with the same argmax
  double rms_delta_p = 0;                       // RMS of p_candidate(target) − p_reference(target)
  PerplexityResult reference;                   // the reference model's perplexity
  PerplexityResult candidate;                   // the candidate's, on the same windows
};

// Evaluates both models window by window (same windows, same tokens) and
// compares their next-token distributions at every scored position.
Result<KlStats> CompareModels(const GPT2& reference, const GPT2& candidate,
                              const std::vector<int32_t>& tokens, const PerplexityOptions& options,
                              ThreadPool& pool);

}  // namespace gpt2q
