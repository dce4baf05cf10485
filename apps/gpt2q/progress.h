// A progress bar on stderr, drawn only when stderr is a terminal.
#pragma once

#include <cstdint>
#include <string>

#include "core/timer.h"

namespace gpt2q {

class ProgressBar {
 public:
  // `label` precedes the bar; `total` is the amount of work (tokens, steps).
  ProgressBar(std::string label, int64_t total);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // Redraws with `done` of total finished (at most every 100 ms, and at the end).
  void Update(int64_t done);
  // Clears the bar's line; later Updates draw nothing.
  void Finish();
  // Changes the amount of work (e.g. from blocks to steps); `total` >= 1.
  void SetTotal(int64_t total);
  // Text drawn after the bar (e.g. "block 2/4 step 37/100 loss 1.2e-03"),
  // shown from the next draw on.
  void SetDetail(std::string detail);

 private:
  void Draw(int64_t done);

  std::string label_;
  std::string detail_;
  int64_t total_;
  bool enabled_;
  Stopwatch since_start_;
  double last_draw_s_ = -1.0;
};

}  // namespace gpt2q
