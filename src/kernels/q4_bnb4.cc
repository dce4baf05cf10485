// Scalar parts and run-time dispatch of the bitsandbytes 4-bit kernels.
#include "kernels/q4_bnb4.h"

namespace gpt2q {

const float kNf4Thresholds[15] = {
    -0.8480964004993439f, -0.6106329262256622f, -0.4599952697753906f, -0.33967943489551544f,
    -0.23460740596055984f, -0.13791173323988914f, -0.045525018125772476f, 0.03979014977812767f,
    0.1202552504837513f, 0.2035212516784668f, 0.2920137718319893f, 0.3893125355243683f,
    0.5016634166240692f, 0.6427869200706482f, 0.8614784181118011f};
const float kFp4Thresholds[7] = {0.00260417f, 0.0859375f, 0.20833333f, 0.29166667f,
                                 0.4166667f, 0.583333f, 0.8333333f};
// Magnitudes by code: 0, 0.0052, 0.667, 1, 0.333, 0.5, 0.167, 0.25 → sorted ranks.
const uint8_t kFp4RankToCode[8] = {0, 1, 6, 7, 4, 5, 2, 3};

// Lane 2k reads bits 4k..4k+3 of the 8 code bytes, lane 2k + 1 bits 4k+32..: byte
// k/2 (+4), low nibble (odd value) when k is even, high nibble (even value) when odd.
const int kBnb4LaneOrder[16] = {1, 9, 0, 8, 3, 11, 2, 10, 5, 13, 4, 12, 7, 15, 6, 14};

// Vector v = 4·parity + j, lane 4L + e: byte 16L + 4j + e of the 32 (the unpacks
// of Lookup32 in x86/q4_bnb4_avx2.cc), its high nibble (value 2·byte) for
// parity 0, its low nibble (2·byte + 1) for parity 1.
const int kBnb4LaneOrder64[64] = {
    0,  2,  4,  6,  32, 34, 36, 38, 8,  10, 12, 14, 40, 42, 44, 46,
    16, 18, 20, 22, 48, 50, 52, 54, 24, 26, 28, 30, 56, 58, 60, 62,
    1,  3,  5,  7,  33, 35, 37, 39, 9,  11, 13, 15, 41, 43, 45, 47,
    17, 19, 21, 23, 49, 51, 53, 55, 25, 27, 29, 31, 57, 59, 61, 63};

namespace internal {
bool HasAvx512() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl");
  return has;
}

void Bnb4PermuteInOrder(const float* x, int64_t n, int64_t cols, bool order64, float* xp) {
  const int unit = order64 ? 64 : 16;
  const int* order = order64 ? kBnb4LaneOrder64 : kBnb4LaneOrder;
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t c = 0; c < cols; c += unit) {
      for (int l = 0; l < unit; ++l) xp[t * cols + c + l] = x[t * cols + c + order[l]];
    }
  }
}
}  // namespace internal

void Bnb4PermuteActivations(const float* x, int64_t n, int64_t cols, int64_t block, float* xp) {
  // The AVX2 kernel reads units of 64 for such blocks (Bnb4RowDotAvx2), the others units of 16.
  internal::Bnb4PermuteInOrder(x, n, cols, !internal::HasAvx512() && block % 64 == 0, xp);
}

void Bnb4RowDot(const uint8_t* codes, const float* absmax, int64_t cols, int64_t block,
                const float* lut16, const float* xp, int64_t n, int64_t ldx, float* y,
                int64_t ldy) {
  if (internal::HasAvx512()) {
    internal::Bnb4RowDotAvx512(codes, absmax, cols, block, lut16, xp, n, ldx, y, ldy);
  } else {
    internal::Bnb4RowDotAvx2(codes, absmax, cols, block, lut16, xp, n, ldx, y, ldy);
  }
}

void Bnb4RowDotRef(const uint8_t* codes, const float* absmax, int64_t cols, int64_t block,
                   const float* lut16, const float* x, int64_t n, int64_t ldx, float* y,
                   int64_t ldy) {
  for (int64_t t = 0; t < n; ++t) {
    double acc = 0.0;
    for (int64_t c = 0; c < cols; ++c) {
      const int code = (c & 1) ? codes[c >> 1] & 0xF : codes[c >> 1] >> 4;
      acc += static_cast<double>(lut16[code] * absmax[c / block]) * x[t * ldx + c];
    }
    y[t * ldy] = static_cast<float>(acc);
  }
}

void Bnb4DequantizeRow(const uint8_t* codes, const float* absmax, int64_t cols, int64_t block,
                       const float* lut16, float* out) {
  for (int64_t b = 0; b < cols / block; ++b) {
    float scaled[16];
    for (int i = 0; i < 16; ++i) scaled[i] = lut16[i] * absmax[b];
    const uint8_t* q = codes + b * block / 2;
    float* o = out + b * block;
    for (int64_t i = 0; i < block / 2; ++i) {
      o[2 * i] = scaled[q[i] >> 4];
      o[2 * i + 1] = scaled[q[i] & 0xF];
    }
  }
}

}  // namespace gpt2q
