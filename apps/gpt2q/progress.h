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

 private:
  void Draw(int64_t done);

  std::string label_;
  int64_t total_;
  bool enabled_;
  Stopwatch since_start_;
  double last_draw_s_ = -1.0;
};

}  // namespace gpt2q
