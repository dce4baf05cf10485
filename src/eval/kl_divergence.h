// Agreement of a quantized model with the full-precision one on the same
// windows: KL divergence, top-1 agreement, change in the correct token's
// probability — the statistics of llama-perplexity --kl-divergence.
#pragma once

#include <span>
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

// A model compared with the reference, and the tracked bytes it alone holds
// (its weights), which the other candidates' memory peaks leave out.
struct CompareCandidate {
  const GPT2* model = nullptr;
  int64_t resident_bytes = 0;
};

// Evaluates the reference once per window and every candidate on the same
// window right after it, and compares their next-token distributions at every
// scored position. Returns one KlStats per candidate, in order: each the same,
// bit for bit, as comparing that candidate alone. A candidate's
// `candidate.peak_tracked_bytes` is the tracked peak of its own turns (its
// forward and comparison) less the other candidates' resident_bytes: what it
// would be with that candidate the only one held. Its `reference` carries the
// reference's timing over the same windows (shared by every candidate).
Result<std::vector<KlStats>> CompareModels(const GPT2& reference, std::span<const CompareCandidate> candidates,
                                           const std::vector<int32_t>& tokens, const PerplexityOptions& options,
                                           ThreadPool& pool);

// One candidate.
Result<KlStats> CompareModels(const GPT2& reference, const GPT2& candidate,
                              const std::vector<int32_t>& tokens, const PerplexityOptions& options,
                              ThreadPool& pool);

}  // namespace gpt2q
