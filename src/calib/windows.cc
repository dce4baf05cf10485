// Evenly spaced calibration windows over a token sequence.
#include "calib/windows.h"

#include <algorithm>
#include <string>

namespace gpt2q {

std::vector<int64_t> CalibrationWindowStarts(int64_t text_tokens, int64_t len, int64_t n) {
  std::vector<int64_t> starts(static_cast<size_t>(n), 0);
  if (n == 1) return starts;
  const int64_t span = text_tokens - len;
  // i·span < N·T: fits int64 for any text that fits in memory.
  for (int64_t i = 0; i < n; ++i) starts[static_cast<size_t>(i)] = i * span / (n - 1);
  return starts;
}

Result<CalibrationWindows> MakeCalibrationWindows(const std::vector<int32_t>& ids, int64_t n, int64_t len,
                                                  int64_t n_ctx, const std::string& source) {
  const int64_t t = static_cast<int64_t>(ids.size());
  if (n < 1) {
    return Status::Error(source + ": calibration needs at least 1 window (--calib-samples), got " +
                         std::to_string(n));
  }
  if (len < 1 || len > n_ctx) {
    return Status::Error(source + ": calibration window length (--calib-len) must be in [1, " +
                         std::to_string(n_ctx) + "] (the model's n_ctx), got " + std::to_string(len));
  }
  if (t < len) {
    return Status::Error(source + ": the calibration text has " + std::to_string(t) +
                         " tokens, shorter than one window of " + std::to_string(len) +
                         " tokens (--calib-len)");
  }
  // A window count beyond what memory can hold is refused before allocating.
  constexpr int64_t kMaxRows = int64_t{1} << 28;
  if (n > kMaxRows / len) {
    return Status::Error(source + ": " + std::to_string(n) + " windows of " + std::to_string(len) +
                         " tokens exceed the limit of " + std::to_string(kMaxRows) + " calibration tokens");
  }
  CalibrationWindows w;
  w.n = n;
  w.len = len;
  w.text_tokens = t;
  w.starts = CalibrationWindowStarts(t, len, n);
  w.tokens.resize(static_cast<size_t>(n * len));
  for (int64_t i = 0; i < n; ++i) {
    std::copy(ids.begin() + w.starts[i], ids.begin() + w.starts[i] + len, w.tokens.begin() + i * len);
  }
  return w;
}

}  // namespace gpt2q
