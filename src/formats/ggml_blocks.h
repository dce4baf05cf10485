// llama.cpp's block structs (byte-for-byte the layout GGUF files hold), the
// 8-bit activation blocks the matmul kernels use, and ggml's rounding helpers.
#pragma once

#include <cstdint>
#include <cstring>

#include "core/half.h"

namespace gpt2q {

// The ggml block formats gpt2q stores.
enum class GgmlType { kQ8_0, kQ4_0, kQ4_1, kQ5_0, kQ5_1, kQ4_K, kQ6_K };

inline constexpr int kQK32 = 32;   // values per block of q8_0, q4_0, q4_1, q5_0, q5_1
inline constexpr int kQKK = 256;   // values per K-quant super-block

// q8_0: x ≈ d·q, d = amax/127, q = round(x/d) in [-127, 127].
struct BlockQ8_0 {
  uint16_t d;       // fp16 scale
  int8_t qs[32];    // values in order
};
// q4_0: x ≈ d·(q − 8), d = max/−8 (max = the value of largest magnitude).
// qs[j] low nibble = value j, high nibble = value j + 16.
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[16];
};
// q4_1: x ≈ d·q + m, d = (max − min)/15, m = min; nibbles as q4_0.
struct BlockQ4_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qs[16];
};
// q5_0: x ≈ d·(q − 16), d = max/−16; low 4 bits as q4_0, bit 4 of value j in
// bit j of the little-endian 32-bit qh.
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[16];
};
// q5_1: x ≈ d·q + m, d = (max − min)/31; bits as q5_0.
struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[16];
};
// q4_K: 8 sub-blocks of 32; x ≈ d·sc_j·q − dmin·m_j, 6-bit sc_j and m_j packed in
// scales[12] (j < 4: scales[j] low 6 bits = sc_j, scales[j+4] low 6 = m_j; j ≥ 4:
// scales[j+4] = sc_j low 4 | m_j low 4 << 4, top 2 bits in bits 6–7 of
// scales[j−4] (sc) and scales[j] (m)). qs[32c + l]: low nibble = value 64c + l,
// high nibble = value 64c + 32 + l.
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qs[128];
};
// q6_K: 16 sub-blocks of 16; x ≈ d·scales[j]·(q − 32), q 6 bits. For half h
// (128 values) and l < 32: ql[64h + l] = q[128h+l] low 4 | q[128h+l+64] low 4 << 4,
// ql[64h+32+l] = q[128h+l+32] | q[128h+l+96] << 4, qh[32h + l] holds the top two
// bits of q[128h + l + 32k] at bits 2k.
struct BlockQ6_K {
  uint8_t ql[128];
  uint8_t qh[64];
  int8_t scales[16];
  uint16_t d;
};

static_assert(sizeof(BlockQ8_0) == 34, "q8_0 block is 34 bytes");
static_assert(sizeof(BlockQ4_0) == 18, "q4_0 block is 18 bytes");
static_assert(sizeof(BlockQ4_1) == 20, "q4_1 block is 20 bytes");
static_assert(sizeof(BlockQ5_0) == 22, "q5_0 block is 22 bytes");
static_assert(sizeof(BlockQ5_1) == 24, "q5_1 block is 24 bytes");
static_assert(sizeof(BlockQ4_K) == 144, "q4_K block is 144 bytes");
static_assert(sizeof(BlockQ6_K) == 210, "q6_K block is 210 bytes");

// Activations of the 32-value formats (ggml's q8_0/q8_1 with an fp32 scale):
// a ≈ d·qs, s = d·Σqs (used by the formats with a minimum, q4_1 and q5_1).
struct ActQ8 {
  float d;
  float s;
  int8_t qs[32];
};
// Activations of the K-quants (ggml's q8_K): a ≈ d·qs, bsums[i] = Σ qs[16i..16i+15].
struct ActQ8K {
  float d;
  int16_t bsums[16];
  int8_t qs[256];
};

// ggml's nearest_int: round half to even through the 1.5·2^23 trick; |v| < 2^22.
inline int NearestInt(float v) {
  float t = v + 12582912.f;
  int32_t i;
  std::memcpy(&i, &t, 4);
  return (i & 0x007fffff) - 0x00400000;
}

// Unpacks the 6-bit scale and min of q4_K sub-block j (0..7) from scales[12].
inline void Q4KScaleMin(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

}  // namespace gpt2q
