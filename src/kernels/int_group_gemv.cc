// int-group kernels: the packed layout's accessors, the scalar references, ISA
// dispatch and the threaded driver (see int_group_gemv.h for the layout and
// the float sequence).
#include "kernels/int_group_gemv.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/check.h"
#include "kernels/blas.h"

namespace gpt2q {
namespace {

// Where code i of a unit lives: word offset within the unit and bit shift.
// For 3-bit codes 30 and 31 this is the low two bits; the high bit is in word 2.
struct CodeSlot {
  int64_t word;
  int shift;
};

CodeSlot SlotOf(int bits, int64_t c) {
  if (bits == 3) {
    if (c < 30) return {c / 10, static_cast<int>(3 * (c % 10))};
    return {c - 30, 30};
  }
  const int64_t per_word = 32 / bits;
  return {c / per_word, static_cast<int>(bits * (c % per_word))};
}

// Returns the lane (row) word pointer of `row` at word 0: consecutive words are 16 apart.
inline const uint32_t* LaneWords(const IntGroupPacked& w, int64_t row) {
  return w.codes.as<uint32_t>() + (row / 16) * w.words * 16 + row % 16;
}

}  // namespace

int64_t IntGroupUnitCodes(int bits) {
  switch (bits) {
    case 2: return 16;
    case 3: return 32;
    case 4: return 8;
    case 8: return 4;
  }
  GPT2Q_CHECK(false && "int-group: bits must be 2, 3, 4 or 8");
  return 0;
}

void IntGroupPacked::SetShape(int64_t rows_in, int64_t cols_in, int bits_in, int64_t group_in) {
  GPT2Q_CHECK(rows_in > 0 && cols_in > 0 && group_in >= 1 && group_in <= cols_in);
  rows = rows_in;
  cols = cols_in;
  bits = bits_in;
  group = group_in;
  rows_pad = (rows + kIntGroupPanelRows - 1) / kIntGroupPanelRows * kIntGroupPanelRows;
  n_groups = (cols + group - 1) / group;
  const int64_t unit = IntGroupUnitCodes(bits);
  group_pad = (group + unit - 1) / unit * unit;
  const int64_t last = cols - (n_groups - 1) * group;
  last_pad = (last + unit - 1) / unit * unit;
  kpad = (n_groups - 1) * group_pad + last_pad;
  words = kpad * bits / 32;
}

void IntGroupPacked::Allocate(int64_t rows_in, int64_t cols_in, int bits_in, int64_t group_in) {
  SetShape(rows_in, cols_in, bits_in, group_in);
  codes = AlignedBuffer(static_cast<size_t>(rows_pad * words * 4));
  scales = AlignedBuffer(static_cast<size_t>(rows_pad * n_groups * 2));
  zeros = AlignedBuffer(static_cast<size_t>(rows_pad * n_groups));
}

void IntGroupPacked::SetGroupCodes(int64_t row, int64_t g, const uint8_t* q) {
  uint32_t* lane = codes.as<uint32_t>() + (row / 16) * words * 16 + row % 16;
  const int64_t word0 = g * group_pad * bits / 32, n = GroupPadded(g);
  if (bits == 3) {
    for (int64_t u = 0; u * 32 < n; ++u) {
      const uint8_t* c = q + 32 * u;
      uint32_t w[3] = {0, 0, 0};
      for (int i = 0; i < 30; ++i) w[i / 10] |= static_cast<uint32_t>(c[i] & 7) << (3 * (i % 10));
      w[0] |= static_cast<uint32_t>(c[30] & 3) << 30;
      w[1] |= static_cast<uint32_t>(c[31] & 3) << 30;
      w[2] |= (static_cast<uint32_t>(c[30] >> 2 & 1) << 30) | (static_cast<uint32_t>(c[31] >> 2 & 1) << 31);
      for (int k = 0; k < 3; ++k) lane[(word0 + 3 * u + k) * 16] = w[k];
    }
    return;
  }
  const int64_t per_word = 32 / bits;
  const uint32_t mask = (1u << bits) - 1;
  for (int64_t u = 0; u * per_word < n; ++u) {
    uint32_t v = 0;
    for (int64_t c = 0; c < per_word; ++c) v |= (q[u * per_word + c] & mask) << (bits * c);
    lane[(word0 + u) * 16] = v;
  }
}

void IntGroupPacked::GroupCodes(int64_t row, int64_t g, uint8_t* q) const {
  const uint32_t* lane = LaneWords(*this, row);
  const int64_t word0 = g * group_pad * bits / 32, n = GroupPadded(g);
  if (bits == 3) {
    for (int64_t u = 0; u * 32 < n; ++u) {
      uint8_t* c = q + 32 * u;
      const uint32_t w0 = lane[(word0 + 3 * u) * 16], w1 = lane[(word0 + 3 * u + 1) * 16],
                     w2 = lane[(word0 + 3 * u + 2) * 16];
      const uint32_t w[3] = {w0, w1, w2};
      for (int i = 0; i < 30; ++i) c[i] = static_cast<uint8_t>(w[i / 10] >> (3 * (i % 10)) & 7);
      c[30] = static_cast<uint8_t>((w0 >> 30) | (w2 >> 28 & 4));
      c[31] = static_cast<uint8_t>((w1 >> 30) | (w2 >> 29 & 4));
    }
    return;
  }
  const int64_t per_word = 32 / bits;
  const uint32_t mask = (1u << bits) - 1;
  for (int64_t u = 0; u * per_word < n; ++u) {
    const uint32_t v = lane[(word0 + u) * 16];
    for (int64_t c = 0; c < per_word; ++c) q[u * per_word + c] = static_cast<uint8_t>(v >> (bits * c) & mask);
  }
}

uint32_t IntGroupPacked::Code(int64_t row, int64_t g, int64_t i) const {
  const uint32_t* lane = LaneWords(*this, row);
  const int64_t unit = IntGroupUnitCodes(bits);
  const int64_t unit_words = bits == 3 ? 3 : 1;
  const int64_t base = g * group_pad * bits / 32 + (i / unit) * unit_words;
  const int64_t c = i % unit;
  const CodeSlot s = SlotOf(bits, c);
  if (bits == 3 && c >= 30) {
    const uint32_t low = lane[(base + s.word) * 16] >> 30;
    const uint32_t high = (lane[(base + 2) * 16] >> (c == 30 ? 28 : 29)) & 4;
    return low | high;
  }
  const uint32_t mask = (1u << bits) - 1;  // bits ≤ 8
  return (lane[(base + s.word) * 16] >> s.shift) & mask;
}

IntGroupIsa BestIntGroupIsa() {
  static const IntGroupIsa isa = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                                         __builtin_cpu_supports("avx512vl")
                                     ? IntGroupIsa::kAvx512
                                     : IntGroupIsa::kAvx2;
  return isa;
}

void IntGroupPadActivations(const IntGroupPacked& w, const float* x, int64_t n, float* xp) {
  for (int64_t t = 0; t < n; ++t) {
    float* dst = xp + t * w.kpad;
    std::fill(dst, dst + w.kpad, 0.0f);
    for (int64_t g = 0; g < w.n_groups; ++g) {
      std::memcpy(dst + g * w.group_pad, x + t * w.cols + g * w.group,
                  static_cast<size_t>(w.GroupLength(g)) * sizeof(float));
    }
  }
}

void IntGroupGemvPanelsRef(const IntGroupPacked& w, const float* xp, int64_t ldx, int64_t n,
                           int64_t panel0, int64_t n_panels, float* y, int64_t ldy) {
  const int64_t row_end = std::min(w.rows, (panel0 + n_panels) * kIntGroupPanelRows);
  for (int64_t j = panel0 * kIntGroupPanelRows; j < row_end; ++j) {
    for (int64_t t = 0; t < n; ++t) {
      float out = 0.0f;
      for (int64_t g = 0; g < w.n_groups; ++g) {
        const float* xg = xp + t * ldx + g * w.group_pad;
        const int32_t zero = w.Zero(j, g);
        float a[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        for (int64_t i = 0; i < w.GroupPadded(g); ++i) {
          const float code = static_cast<float>(static_cast<int32_t>(w.Code(j, g, i)) - zero);
          a[i % 4] = std::fma(xg[i], code, a[i % 4]);
        }
        out = std::fma((a[0] + a[1]) + (a[2] + a[3]), w.Scale(j, g), out);
      }
      y[t * ldy + j] = out;
    }
  }
}

void IntGroupGemvPanels(IntGroupIsa isa, const IntGroupPacked& w, const float* xp, int64_t ldx,
                        int64_t n, int64_t panel0, int64_t n_panels, float* y, int64_t ldy) {
  switch (isa) {
    case IntGroupIsa::kAvx512:
      IntGroupGemvPanelsAvx512(w, xp, ldx, n, panel0, n_panels, y, ldy);
      return;
    case IntGroupIsa::kAvx2:
      IntGroupGemvPanelsAvx2(w, xp, ldx, n, panel0, n_panels, y, ldy);
      return;
    case IntGroupIsa::kScalar:
      IntGroupGemvPanelsRef(w, xp, ldx, n, panel0, n_panels, y, ldy);
      return;
  }
}

void IntGroupDequantizePanelsTRef(const IntGroupPacked& w, int64_t panel0, int64_t n_panels,
                                  float* tile, int64_t ld) {
  for (int64_t p = panel0; p < panel0 + n_panels; ++p) {
    for (int64_t r = 0; r < kIntGroupPanelRows; ++r) {
      const int64_t j = p * kIntGroupPanelRows + r;
      float* col = tile + (p - panel0) * kIntGroupPanelRows + r;
      for (int64_t g = 0; g < w.n_groups; ++g) {
        const float scale = w.Scale(j, g);
        const int32_t zero = w.Zero(j, g);
        for (int64_t i = 0; i < w.GroupLength(g); ++i) {
          const float code = static_cast<float>(static_cast<int32_t>(w.Code(j, g, i)) - zero);
          col[(g * w.group + i) * ld] = scale * code;
        }
      }
    }
  }
}

void IntGroupDequantizePanelsT(const IntGroupPacked& w, int64_t panel0, int64_t n_panels, float* tile,
                               int64_t ld) {
  IntGroupDequantizePanelsTAvx2(w, panel0, n_panels, tile, ld);  // AVX2 is gpt2q's baseline
}

void IntGroupMultiply(const IntGroupPacked& w, const float* x, int64_t n, float* y, ThreadPool& pool,
                      IntGroupIsa isa) {
  GPT2Q_CHECK(n >= 1);
  const int64_t n_panels = w.n_panels();
  const int64_t chunk_panels =
      std::max<int64_t>(1, (OutputChunk(n, w.rows) + kIntGroupPanelRows - 1) / kIntGroupPanelRows);
  const int64_t n_chunks = (n_panels + chunk_panels - 1) / chunk_panels;
  if (n <= kIntGroupGemvMaxTokens) {
    // Decode: stream the packed codes once per token block, never expanded.
    std::vector<float> padded;
    const float* xp = x;
    if (!w.Unpadded()) {
      padded.resize(static_cast<size_t>(n * w.kpad));
      IntGroupPadActivations(w, x, n, padded.data());
      xp = padded.data();
    }
    pool.ParallelFor(n_chunks, [&](int64_t c) {
      const int64_t p0 = c * chunk_panels, np = std::min(chunk_panels, n_panels - p0);
      IntGroupGemvPanels(isa, w, xp, w.kpad, n, p0, np, y, w.rows);
    });
    return;
  }
  // Prefill: a chunk of rows dequantized as Wᵀ [cols, 16·np] into per-thread
  // scratch (reused across calls, grows to the largest tile), then one SGEMM.
  pool.ParallelFor(n_chunks, [&](int64_t c) {
    thread_local std::vector<float> tile;
    const int64_t p0 = c * chunk_panels, np = std::min(chunk_panels, n_panels - p0);
    const int64_t ld = np * kIntGroupPanelRows;
    if (static_cast<int64_t>(tile.size()) < w.cols * ld) tile.resize(static_cast<size_t>(w.cols * ld));
    IntGroupDequantizePanelsT(w, p0, np, tile.data(), ld);
    const int64_t r0 = p0 * kIntGroupPanelRows;
    const int64_t width = std::min(ld, w.rows - r0);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(n), static_cast<int>(width),
                static_cast<int>(w.cols), 1.0f, x, static_cast<int>(w.cols), tile.data(), static_cast<int>(ld),
                0.0f, y + r0, static_cast<int>(w.rows));
  });
}

}  // namespace gpt2q
