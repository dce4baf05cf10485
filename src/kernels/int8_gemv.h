// Weight-only multiplication straight from the packed int8 / int4 codes of
// kernels/int8_gemm.h, for few tokens (decode): the codes are streamed once
// and never expanded into an fp32 copy, so batch-1 decode moves 1 byte (or
// half a byte) per weight instead of 4.
//
// Float sequence, for token x and row j (every kernel follows it exactly, so
// the scalar, AVX2 and AVX-512 kernels give bit-identical results):
//   out = 0
//   for each group g:
//     a[e] = 0 (e = 0..3);  for k in g, in order: a[k % 4] = fma(x[k],
//     float(u[j][k] − offset[j]), a[k % 4]) out = fma((a[0] + a[1]) + (a[2] +
//     a[3]), step[j][g], out)
//   y[j] = out
// u − offset is the exact integer q − z, so every product is exactly rounded.
#pragma once

#include <cstdint>

#include "core/thread_pool.h"
#include "kernels/int8_gemm.h"

namespace gpt2q {

// The decode path takes up to this many tokens; more go through tiles + SGEMM.
inline constexpr int64_t kInt8GemvMaxTokens = 8;

// Computes y[j] for one token x (kpad values, zero beyond cols) and every real
// row j in panels [panel0, panel0 + n_panels).
void Int8GemvPanels(Int8Isa isa, const float* x, const PackedInt8Weights& w, int64_t panel0, int64_t n_panels,
                    float* y);

// The ISA variants (x86/int8_gemv_avx2.cc, x86/int8_gemv_avx512.cc).
void Int8GemvPanelsRef(const float* x, const PackedInt8Weights& w, int64_t panel0, int64_t n_panels,
                       float* y);
void Int8GemvPanelsAvx2(const float* x, const PackedInt8Weights& w, int64_t panel0, int64_t n_panels,
                        float* y);
void Int8GemvPanelsAvx512(const float* x, const PackedInt8Weights& w, int64_t panel0, int64_t n_panels,
                          float* y);

// y[n, rows] = x[n, cols] · W'ᵀ with W' = (u − offset) · step, for n up to
// kInt8GemvMaxTokens. Panel chunks depend on the shape only.
void Int8WeightOnlyGemv(const float* x, int64_t n, float* y, const PackedInt8Weights& w, ThreadPool& pool,
                        Int8Isa isa);

}  // namespace gpt2q
