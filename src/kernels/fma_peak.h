// The machine's fp32 multiply-add peak as a kernel can reach it: the yardstick
// for prefill, which is bound by arithmetic.
#pragma once

#include "core/thread_pool.h"

namespace gpt2q {

// Runs independent chains of 8-wide fused multiply-adds (enough of them to
// hide the latency) on every thread of `pool` for about `seconds`; returns
// floating-point operations per second (a multiply-add counts 2).
double MeasureFp32FmaPeak(ThreadPool& pool, double seconds = 0.1);

}  // namespace gpt2q
