// Counting NaN and ±Inf values in fp32, fp16 and bf16 arrays, for load-time checks.
#pragma once

#include <cstdint>

namespace gpt2q {

// How many values of an array are NaN or ±Inf, and the index of the first.
struct NonFiniteCount {
  int64_t count = 0;
  int64_t first = -1;  // -1 when count == 0
};

// Returns true for the bits of an fp32 / fp16 / bf16 NaN or ±Inf (all exponent bits set).
inline bool IsNonFiniteF32Bits(uint32_t bits) { return (bits & 0x7f800000u) == 0x7f800000u; }
inline bool IsNonFiniteF16Bits(uint16_t bits) { return (bits & 0x7c00u) == 0x7c00u; }
inline bool IsNonFiniteBf16Bits(uint16_t bits) { return (bits & 0x7f80u) == 0x7f80u; }

// Counts the NaN and ±Inf among `n` little-endian values at `bytes` (any
// alignment): fp32, fp16 or bf16. One vectorized pass; a second one, up to the
// first bad value, only when there is one.
NonFiniteCount CountNonFiniteF32(const void* bytes, int64_t n);
NonFiniteCount CountNonFiniteF16(const void* bytes, int64_t n);
NonFiniteCount CountNonFiniteBf16(const void* bytes, int64_t n);

}  // namespace gpt2q
