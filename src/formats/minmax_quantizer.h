// Min-max group quantizers of GPTQ and AWQ: per-group (scale, zero) and the
// code <-> value maps they share. Pure fp32 math, no model or format knowledge.
#pragma once

#include <cstdint>

namespace gpt2q {

// x' = scale · (q − zero), q in [0, maxq], maxq = 2^bits − 1.
struct GroupQuant {
  float scale = 1;
  int32_t zero = 0;
};

// Returns 2^bits − 1, the largest code of a `bits`-bit quantizer (bits in 1..16).
inline int32_t MaxCode(int bits) { return (int32_t{1} << bits) - 1; }

// GPTQ's min-max quantizer (IST-DASLab gptq quant.py): xmin = min(min x, 0), xmax = max(max x, 0);
// sym: xmax = max(|xmin|, xmax), xmin = −xmax when xmin < 0; both 0 → −1, +1;
// scale = (xmax − xmin)/maxq; zero = round(−xmin/scale), or (maxq+1)/2 when sym. fp32, round half to even.
// x: n ≥ 1 finite values (n = 0 is treated as an all-zero group); bits in 1..16.
GroupQuant GptqGroupQuant(const float* x, int64_t n, int bits, bool sym);

// AWQ's pseudo_quantize_tensor (llm-awq): scale = max(max x − min x, 1e-5)/maxq,
// zero = clamp(−round(min x/scale), 0, maxq).
// x: n ≥ 1 finite values (n = 0 is treated as an all-zero group); bits in 1..16.
GroupQuant AwqGroupQuant(const float* x, int64_t n, int bits);

// q = clamp(round(x/scale) + zero, 0, maxq) (division, round half to even, as torch).
// A NaN x maps to the code of 0 clamped, i.e. clamp(zero, 0, maxq); ±inf clamp.
int32_t QuantizeToCode(float x, GroupQuant g, int32_t maxq);

// Returns scale · (q − zero) in fp32 (q − zero is exact).
float DequantizeCode(int32_t q, GroupQuant g);  // scale · (q − zero), fp32

}  // namespace gpt2q
