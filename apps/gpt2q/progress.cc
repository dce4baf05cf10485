// Progress bar on a terminal's stderr (see progress.h).
#include "progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include <fmt/core.h>

namespace gpt2q {

ProgressBar::ProgressBar(std::string label, int64_t total)
    : label_(std::move(label)), total_(std::max<int64_t>(total, 1)), enabled_(isatty(STDERR_FILENO) == 1) {}

ProgressBar::~ProgressBar() { Finish(); }

void ProgressBar::Update(int64_t done) {
  if (!enabled_) return;
  const double now = since_start_.Seconds();
  if (done < total_ && last_draw_s_ >= 0 && now - last_draw_s_ < 0.1) return;
  last_draw_s_ = now;
  Draw(std::clamp<int64_t>(done, 0, total_));
}

void ProgressBar::Draw(int64_t done) {
  constexpr int kWidth = 30;
  const double fraction = static_cast<double>(done) / static_cast<double>(total_);
  const int filled = static_cast<int>(fraction * kWidth);
  const double elapsed = since_start_.Seconds();
  const double eta = done > 0 ? elapsed * (total_ - done) / done : 0.0;
  fmt::print(stderr, "\r{} [{}{}] {:3.0f}% {}/{} {:.1f}s eta {:.1f}s{}{}\x1b[K", label_,
             std::string(filled, '#'), std::string(kWidth - filled, '.'), fraction * 100, done,
             total_, elapsed, eta, detail_.empty() ? "" : "  ", detail_);
  std::fflush(stderr);
}

void ProgressBar::SetTotal(int64_t total) { total_ = std::max<int64_t>(total, 1); }

void ProgressBar::SetDetail(std::string detail) { detail_ = std::move(detail); }

void ProgressBar::Finish() {
  if (!enabled_) return;
  fmt::print(stderr, "\r\x1b[K");
  std::fflush(stderr);
  enabled_ = false;
}

}  // namespace gpt2q
