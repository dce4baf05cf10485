// AWQ's weight clipping search for one linear layer (llm-awq auto_clip.py):
// per (row, group), the clipping range among 10 shrink steps that best
// preserves the group's partial dot products with calibration inputs.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"

namespace gpt2q {

// Shrink steps tried: max = org_max·(1 − i/kAwqClipGrid) for i in
// [0, kAwqClipSteps), i.e. llm-awq's n_grid 20 and max_shrink 0.5.
inline constexpr int kAwqClipGrid = 20;
inline constexpr int kAwqClipSteps = 10;
// Calibration rows the search keeps (llm-awq's n_sample_token).
inline constexpr int64_t kAwqClipTokens = 512;

// Returns the step between the calibration rows the clip search keeps:
// ⌊n_rows / n_sample⌋, or 1 when that is 0 (fewer rows than n_sample).
int64_t AwqClipStride(int64_t n_rows, int64_t n_sample = kAwqClipTokens);

// Returns the rows of x [n_rows, n_in] (row-major) that llm-awq's clip search
// uses: rows 0, stride, 2·stride, … with stride = AwqClipStride(n_rows, n_sample), as
// input_feat[:, 0::n_rows // n_sample]. When n_rows < n_sample the stride would
// be 0 (a Python error in llm-awq): every row is kept. Result: [k, n_in] with
// k = ⌈n_rows / stride⌉ (n_sample ≤ k < 2·n_sample when n_rows ≥ n_sample).
std::vector<float> AwqClipTokens(const float* x, int64_t n_rows, int64_t n_in, int64_t n_sample = kAwqClipTokens);

struct AwqClipResult {
  int64_t group_size = 0;  // columns per group (cols for group −1)
  int64_t n_groups = 0;    // ceil(cols / group_size); the last group may be shorter
  std::vector<float> max_val;   // [rows, n_groups]: the chosen clipping bound
  std::vector<uint8_t> step;    // [rows, n_groups]: the chosen shrink step i in [0, kAwqClipSteps)
};

// Searches, for every (row, group) of w [rows, cols] (row-major, the linear's
// weight as [out, in], already multiplied by its AWQ scales), the bound
// max = org_max·(1 − i/20), i = 0..9, org_max = max |w| over the group, that
// minimises err = mean over the n_tokens rows x of tokens [n_tokens, cols] of
// (Σ_group x·Q(clamp(w, −max, max)) − Σ_group x·w)², where Q is AWQ's
// quantizer (AwqGroupQuant, `bits`) over the group. Strictly lower wins, and
// the running minimum starts at 1e9 as in llm-awq (so a group whose error is
// ≥ 1e9 at every step keeps org_max). Then clamps w in place to ±max.
// Each (row chunk, group, step) is one sgemm of fixed shape on one task, so the
// result does not depend on the thread count. group: −1 (per row) or ≥ 1.
// `name` labels error messages. Returns an error for bad sizes or options, or
// non-finite weights or tokens.
Result<AwqClipResult> AwqClipSearch(std::string_view name, float* w, int64_t rows, int64_t cols,
                                    const float* tokens, int64_t n_tokens, int bits, int64_t group,
                                    ThreadPool& pool);

}  // namespace gpt2q
