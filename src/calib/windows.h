// Calibration windows (spec §3): N windows of L tokens, evenly spaced over the
// T token ids of a calibration text, each an independent sequence at
// positions 0..L−1.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace gpt2q {

struct CalibrationWindows {
  int64_t n = 0;            // windows (--calib-samples)
  int64_t len = 0;          // tokens per window (--calib-len)
  int64_t text_tokens = 0;  // T: tokens of the whole calibration text
  std::vector<int64_t> starts;  // [n]: window i is ids [starts[i], starts[i] + len)
  std::vector<int32_t> tokens;  // [n, len] row-major: the windows' ids

  int64_t rows() const { return n * len; }  // tokens over all windows
  const int32_t* window(int64_t i) const { return tokens.data() + i * len; }
};

// Returns the starts s_i = floor(i·(T − L)/(N − 1)) for i < N (N = 1: {0}),
// computed exactly in integers. Requires N ≥ 1 and T ≥ L ≥ 1.
std::vector<int64_t> CalibrationWindowStarts(int64_t text_tokens, int64_t len, int64_t n);

// Cuts `ids` (the whole calibration text, tokenized without special tokens)
// into `n` windows of `len` tokens. Errors, naming `source` (the file) and
// expected vs actual: n < 1, len < 1, len > n_ctx, T < len.
Result<CalibrationWindows> MakeCalibrationWindows(const std::vector<int32_t>& ids, int64_t n, int64_t len,
                                                  int64_t n_ctx, const std::string& source);

}  // namespace gpt2q
