// Sliding-window perplexity as in Hugging Face's perplexity guide: windows of
// `ctx` tokens moved by `stride`, every token scored once, NLL summed in double.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "model/gpt2.h"

namespace gpt2q {

// One window of the sliding evaluation: tokens [begin, end) are run through the
// model; logits rows [first_scored, end - begin - 1) are scored, row r
// predicting token begin + r + 1.
struct EvalWindow {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t first_scored = 0;

  int64_t length() const { return end - begin; }
  int64_t scored() const { return end - begin - 1 - first_scored; }
};

// Returns the windows that gpt2ref.py `window_nll` evaluates for a text of
// `n_tokens` tokens (windows that score nothing are left out). Requires
// n_tokens >= 2 and 0 < stride <= ctx (checked by EvaluatePerplexity).
std::vector<EvalWindow> PlanWindows(int64_t n_tokens, int64_t ctx, int64_t stride);

struct PerplexityOptions {
  std::optional<int64_t> ctx;     // window length in tokens; default n_ctx
  std::optional<int64_t> stride;  // window step in tokens; default ctx / 2
  // Windows of equal length run together in one Forward call, up to `batch`.
  // Results do not depend on it (the forward pass is row-independent).
  int64_t batch = 1;
  // Called for every scored position with the index (in `tokens`) of the token
  // it predicts and the fp32 logits row [n_vocab] that predicts it, in
  // increasing token order. For comparing two models window by window (KLD).
  std::function<void(int64_t target, const float* logits)> on_scored_row;
  // Called after every Forward call with the tokens scored so far and in all.
  std::function<void(int64_t scored, int64_t total)> on_progress;
};

struct PerplexityResult {
  int64_t ctx = 0, stride = 0;
  int64_t tokens_scored = 0;
  int64_t windows = 0;
  double nll_sum = 0;     // nats
  double loss = 0;        // mean NLL per scored token (nats)
  double loss_stderr = 0; // stderr of the mean NLL (sample std / sqrt(n))
  double ppl = 0;         // exp(loss)
  double ppl_stderr = 0;  // ppl * loss_stderr (delta method)
  // NLL of every scored token, in text order; token_nll[i] scores token i + 1
  // of the text when every token is scored (stride < ctx).
  std::vector<double> token_nll;
  double eval_s = 0;
  double tokens_per_s = 0;
  // The forward pass alone (logits at every position): tokens of every
  // window, whole, and the seconds spent in it.
  int64_t tokens_run = 0;
  double forward_s = 0;
  int64_t peak_tracked_bytes = 0;  // tracked allocations during the evaluation
  int64_t peak_rss_bytes = 0;      // process peak RSS (VmHWM) after it

  // All-logits prefill speed: tokens_run / forward_s (0 when not timed).
  double prefill_tokens_per_s() const { return forward_s > 0 ? static_cast<double>(tokens_run) / forward_s : 0.0; }
};

// Returns the negative log-likelihood of a logits row [n_vocab] for `target`:
// log-sum-exp minus the target's logit, computed in double.
double TokenNll(const float* logits, int64_t n_vocab, int32_t target);

// Evaluates `model` on `tokens`. Fails if there are fewer than 2 tokens, a
// token id is outside [0, n_vocab), ctx is outside [2, n_ctx], stride is
// outside [1, ctx], or batch < 1.
Result<PerplexityResult> EvaluatePerplexity(const GPT2& model, const std::vector<int32_t>& tokens,
                                            const PerplexityOptions& options, ThreadPool& pool);

}  // namespace gpt2q
