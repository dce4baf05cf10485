// ggml's 32-value block formats: reference quantizers and dequantizers.
//
//   q8_0: d = amax/127, q = roundf(x/d)                 → x' = d·q
//   q4_0: d = max/−8 (max: the value of largest |x|),   → x' = d·(q − 8)
//         q = min(15, trunc(x/d + 8.5))
//   q4_1: d = (max − min)/15, m = min,                  → x' = d·q + m
//         q = min(15, trunc((x − min)/d + 0.5))
//   q5_0: d = max/−16, q = min(31, trunc(x/d + 16.5))   → x' = d·(q − 16)
//   q5_1: d = (max − min)/31, q = trunc((x − min)/d + 0.5) → x' = d·q + m
// d and m are stored as fp16 (round to nearest even, as F16C); 1/d is 0 when d
// is 0. Byte layouts: see ggml_blocks.h.
// ggml's reference is C without fused multiply-adds: keep a·b + c two roundings.
#if defined(__clang__)
#pragma clang fp contract(off)
#else
#pragma GCC optimize("fp-contract=off")
#endif

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "formats/ggml_quants.h"

namespace gpt2q {
namespace {

// The value of largest magnitude (the first one on ties), as ggml finds it.
float SignedMax(const float* x, int n) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < n; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

void MinMax(const float* x, int n, float* min, float* max) {
  *min = FLT_MAX;
  *max = -FLT_MAX;
  for (int j = 0; j < n; ++j) {
    if (x[j] < *min) *min = x[j];
    if (x[j] > *max) *max = x[j];
  }
}

}  // namespace

void QuantizeRowQ8_0(const float* x, BlockQ8_0* y, int64_t k) {
  for (int64_t i = 0; i < k / kQK32; ++i, x += kQK32) {
    float amax = 0.0f;
    for (int j = 0; j < kQK32; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = FloatToFp16(d);
    for (int j = 0; j < kQK32; ++j) y[i].qs[j] = static_cast<int8_t>(std::roundf(x[j] * id));
  }
}

void QuantizeRowQ4_0(const float* x, BlockQ4_0* y, int64_t k) {
  for (int64_t i = 0; i < k / kQK32; ++i, x += kQK32) {
    const float d = SignedMax(x, kQK32) / -8;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = FloatToFp16(d);
    for (int j = 0; j < 16; ++j) {
      const int q0 = std::min(15, static_cast<int>(x[j] * id + 8.5f));
      const int q1 = std::min(15, static_cast<int>(x[j + 16] * id + 8.5f));
      y[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

void QuantizeRowQ4_1(const float* x, BlockQ4_1* y, int64_t k) {
  for (int64_t i = 0; i < k / kQK32; ++i, x += kQK32) {
    float min, max;
    MinMax(x, kQK32, &min, &max);
    const float d = (max - min) / 15;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = FloatToFp16(d);
    y[i].m = FloatToFp16(min);
    for (int j = 0; j < 16; ++j) {
      const int q0 = std::min(15, static_cast<int>((x[j] - min) * id + 0.5f));
      const int q1 = std::min(15, static_cast<int>((x[j + 16] - min) * id + 0.5f));
      y[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

void QuantizeRowQ5_0(const float* x, BlockQ5_0* y, int64_t k) {
  for (int64_t i = 0; i < k / kQK32; ++i, x += kQK32) {
    const float d = SignedMax(x, kQK32) / -16;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = FloatToFp16(d);
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      const uint32_t q0 = std::min(31, static_cast<int>(x[j] * id + 16.5f));
      const uint32_t q1 = std::min(31, static_cast<int>(x[j + 16] * id + 16.5f));
      y[i].qs[j] = static_cast<uint8_t>((q0 & 0xF) | ((q1 & 0xF) << 4));
      qh |= ((q0 & 0x10u) >> 4) << j;
      qh |= ((q1 & 0x10u) >> 4) << (j + 16);
    }
    std::memcpy(y[i].qh, &qh, 4);
  }
}

void QuantizeRowQ5_1(const float* x, BlockQ5_1* y, int64_t k) {
  for (int64_t i = 0; i < k / kQK32; ++i, x += kQK32) {
    float min, max;
    MinMax(x, kQK32, &min, &max);
    const float d = (max - min) / 31;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = FloatToFp16(d);
    y[i].m = FloatToFp16(min);
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      const uint32_t q0 = static_cast<uint8_t>(static_cast<int>((x[j] - min) * id + 0.5f));
      const uint32_t q1 = static_cast<uint8_t>(static_cast<int>((x[j + 16] - min) * id + 0.5f));
      y[i].qs[j] = static_cast<uint8_t>((q0 & 0xF) | ((q1 & 0xF) << 4));
      qh |= ((q0 & 0x10u) >> 4) << j;
      qh |= ((q1 & 0x10u) >> 4) << (j + 16);
    }
    std::memcpy(y[i].qh, &qh, 4);
  }
}

void DequantizeRowQ8_0(const BlockQ8_0* x, float* y, int64_t k) {
  for (int64_t i = 0; i < k / kQK32; ++i, y += kQK32) {
    const float d = Fp16ToFloat(x[i].d);
    for (int j = 0; j < kQK32; ++j) y[j] = x[i].qs[j] * d;
  }
}

void DequantizeRowQ4_0(const BlockQ4_0* x, float* y, int64_t k) {
  for (int64_t i = 0; i < k / kQK32; ++i, y += kQK32) {
    const float d = Fp16ToFloat(x[i].d);
    for (int j = 0; j < 16; ++j) {
      y[j] = ((x[i].qs[j] & 0xF) - 8) * d;
      y[j + 16] = ((x[i].qs[j] >> 4) - 8) * d;
    }
  }
}

void DequantizeRowQ4_1(const BlockQ4_1* x, float* y, int64_t k) {
  for (int64_t i = 0; i < k / kQK32; ++i, y += kQK32) {
    const float d = Fp16ToFloat(x[i].d), m = Fp16ToFloat(x[i].m);
    for (int j = 0; j < 16; ++j) {
      y[j] = (x[i].qs[j] & 0xF) * d + m;
      y[j + 16] = (x[i].qs[j] >> 4) * d + m;
    }
  }
}

void DequantizeRowQ5_0(const BlockQ5_0* x, float* y, int64_t k) {
  for (int64_t i = 0; i < k / kQK32; ++i, y += kQK32) {
    const float d = Fp16ToFloat(x[i].d);
    uint32_t qh;
    std::memcpy(&qh, x[i].qh, 4);
    for (int j = 0; j < 16; ++j) {
      const int h0 = ((qh >> j) << 4) & 0x10, h1 = (qh >> (j + 12)) & 0x10;
      y[j] = (((x[i].qs[j] & 0xF) | h0) - 16) * d;
      y[j + 16] = (((x[i].qs[j] >> 4) | h1) - 16) * d;
    }
  }
}

void DequantizeRowQ5_1(const BlockQ5_1* x, float* y, int64_t k) {
  for (int64_t i = 0; i < k / kQK32; ++i, y += kQK32) {
    const float d = Fp16ToFloat(x[i].d), m = Fp16ToFloat(x[i].m);
    uint32_t qh;
    std::memcpy(&qh, x[i].qh, 4);
    for (int j = 0; j < 16; ++j) {
      const int h0 = ((qh >> j) << 4) & 0x10, h1 = (qh >> (j + 12)) & 0x10;
      y[j] = ((x[i].qs[j] & 0xF) | h0) * d + m;
      y[j + 16] = ((x[i].qs[j] >> 4) | h1) * d + m;
    }
  }
}

void QuantizeActQ8(const float* x, ActQ8* y, int64_t k) {
  for (int64_t i = 0; i < k / kQK32; ++i, x += kQK32) {
    float amax = 0.0f;
    for (int j = 0; j < kQK32; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127;
    const float id = d != 0.0f ? 127.0f / amax : 0.0f;
    int sum = 0;
    for (int j = 0; j < kQK32; ++j) {
      y[i].qs[j] = static_cast<int8_t>(NearestInt(x[j] * id));
      sum += y[i].qs[j];
    }
    y[i].d = d;
    y[i].s = d * static_cast<float>(sum);
  }
}

}  // namespace gpt2q
