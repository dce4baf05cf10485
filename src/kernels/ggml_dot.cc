// Scalar reference dot products of the ggml formats, and the kernel table.
#include "kernels/ggml_dot.h"

#include <cstring>

#include "core/half.h"

namespace gpt2q {
namespace {

int Nibble(const uint8_t* qs, int j) { return j < 16 ? qs[j] & 0xF : qs[j - 16] >> 4; }
int HighBit(const uint8_t* qh, int j) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  return (bits >> j) & 1;
}
int DotI8(const int8_t* a, const int* w, int n) {
  int s = 0;
  for (int j = 0; j < n; ++j) s += a[j] * w[j];
  return s;
}

float DotQ8_0(const void* wv, const void* av, int64_t nb) {
  const auto* w = static_cast<const BlockQ8_0*>(wv);
  const auto* a = static_cast<const ActQ8*>(av);
  float sum = 0;
  for (int64_t i = 0; i < nb; ++i) {
    int q[32];
    for (int j = 0; j < 32; ++j) q[j] = w[i].qs[j];
    sum += Fp16ToFloat(w[i].d) * a[i].d * DotI8(a[i].qs, q, 32);
  }
  return sum;
}

float DotQ4_0(const void* wv, const void* av, int64_t nb) {
  const auto* w = static_cast<const BlockQ4_0*>(wv);
  const auto* a = static_cast<const ActQ8*>(av);
  float sum = 0;
  for (int64_t i = 0; i < nb; ++i) {
    int q[32];
    for (int j = 0; j < 32; ++j) q[j] = Nibble(w[i].qs, j) - 8;
    sum += Fp16ToFloat(w[i].d) * a[i].d * DotI8(a[i].qs, q, 32);
  }
  return sum;
}

float DotQ4_1(const void* wv, const void* av, int64_t nb) {
  const auto* w = static_cast<const BlockQ4_1*>(wv);
  const auto* a = static_cast<const ActQ8*>(av);
  float sum = 0;
  for (int64_t i = 0; i < nb; ++i) {
    int q[32];
    for (int j = 0; j < 32; ++j) q[j] = Nibble(w[i].qs, j);
    sum += Fp16ToFloat(w[i].d) * a[i].d * DotI8(a[i].qs, q, 32) + Fp16ToFloat(w[i].m) * a[i].s;
  }
  return sum;
}

float DotQ5_0(const void* wv, const void* av, int64_t nb) {
  const auto* w = static_cast<const BlockQ5_0*>(wv);
  const auto* a = static_cast<const ActQ8*>(av);
  float sum = 0;
  for (int64_t i = 0; i < nb; ++i) {
    int q[32];
    for (int j = 0; j < 32; ++j) q[j] = (Nibble(w[i].qs, j) | (HighBit(w[i].qh, j) << 4)) - 16;
    sum += Fp16ToFloat(w[i].d) * a[i].d * DotI8(a[i].qs, q, 32);
  }
  return sum;
}

float DotQ5_1(const void* wv, const void* av, int64_t nb) {
  const auto* w = static_cast<const BlockQ5_1*>(wv);
  const auto* a = static_cast<const ActQ8*>(av);
  float sum = 0;
  for (int64_t i = 0; i < nb; ++i) {
    int q[32];
    for (int j = 0; j < 32; ++j) q[j] = Nibble(w[i].qs, j) | (HighBit(w[i].qh, j) << 4);
    sum += Fp16ToFloat(w[i].d) * a[i].d * DotI8(a[i].qs, q, 32) + Fp16ToFloat(w[i].m) * a[i].s;
  }
  return sum;
}

float DotQ4_K(const void* wv, const void* av, int64_t nb) {
  const auto* w = static_cast<const BlockQ4_K*>(wv);
  const auto* a = static_cast<const ActQ8K*>(av);
  float sum = 0;
  for (int64_t i = 0; i < nb; ++i) {
    int isum = 0, msum = 0;
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      Q4KScaleMin(j, w[i].scales, &sc, &m);
      const uint8_t* qs = w[i].qs + 32 * (j / 2);
      int q[32];
      for (int l = 0; l < 32; ++l) q[l] = (j & 1) ? qs[l] >> 4 : qs[l] & 0xF;
      isum += sc * DotI8(a[i].qs + 32 * j, q, 32);
      msum += m * (a[i].bsums[2 * j] + a[i].bsums[2 * j + 1]);
    }
    sum += Fp16ToFloat(w[i].d) * a[i].d * isum - Fp16ToFloat(w[i].dmin) * a[i].d * msum;
  }
  return sum;
}

float DotQ6_K(const void* wv, const void* av, int64_t nb) {
  const auto* w = static_cast<const BlockQ6_K*>(wv);
  const auto* a = static_cast<const ActQ8K*>(av);
  float sum = 0;
  for (int64_t i = 0; i < nb; ++i) {
    int q[256];
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = w[i].ql + 64 * h;
      const uint8_t* qh = w[i].qh + 32 * h;
      for (int l = 0; l < 32; ++l) {
        q[128 * h + l] = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        q[128 * h + l + 32] = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        q[128 * h + l + 64] = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        q[128 * h + l + 96] = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      }
    }
    int isum = 0;
    for (int j = 0; j < 16; ++j) isum += w[i].scales[j] * DotI8(a[i].qs + 16 * j, q + 16 * j, 16);
    sum += Fp16ToFloat(w[i].d) * a[i].d * isum;
  }
  return sum;
}

}  // namespace

void GgmlTile(GgmlType type, const uint8_t* w, int64_t row_bytes, int64_t nb, int64_t rows,
              const uint8_t* act, int64_t act_stride, int64_t n, float* y, int64_t ldy) {
  if (internal::HasAvx512Vnni()) {
    internal::GgmlTileVnni(type, w, row_bytes, nb, rows, act, act_stride, n, y, ldy);
  } else {
    internal::GgmlTileAvx2(type, w, row_bytes, nb, rows, act, act_stride, n, y, ldy);
  }
}

namespace internal {
bool HasAvx512Vnni() {
  static const bool has = __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
  return has;
}
}  // namespace internal

GgmlVecDot GgmlVecDotRef(GgmlType type) {
  switch (type) {
    case GgmlType::kQ8_0: return DotQ8_0;
    case GgmlType::kQ4_0: return DotQ4_0;
    case GgmlType::kQ4_1: return DotQ4_1;
    case GgmlType::kQ5_0: return DotQ5_0;
    case GgmlType::kQ5_1: return DotQ5_1;
    case GgmlType::kQ4_K: return DotQ4_K;
    case GgmlType::kQ6_K: return DotQ6_K;
  }
  return nullptr;
}

}  // namespace gpt2q
