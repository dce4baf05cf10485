// The integer formats against their formulas, evaluated by hand on small
// tensors, and the int8 kernels (scalar, AVX2, AVX-512 VNNI) against each other.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "formats/format.h"
#include "formats/int8_formats.h"
#include "formats/int8_matrix.h"
#include "formats/stored_parts.h"
#include "kernels/int8_gemm.h"
#include "kernels/quantize_activations.h"

namespace gpt2q {
namespace {

// W = [[1, −2, 0.5], [0.25, 4, −3]] (2 × 3).
const std::vector<float> kW = {1.0f, -2.0f, 0.5f, 0.25f, 4.0f, -3.0f};

std::unique_ptr<Int8Matrix> Make(const FormatTraits& f, const std::vector<float>& w, int64_t rows,
                                 int64_t cols, const FormatParams& params = {}) {
  auto r = f.quantize_ref(w.data(), rows, cols, params);
  EXPECT_TRUE(r.ok()) << r.message();
  if (!r.ok()) return nullptr;
  return std::unique_ptr<Int8Matrix>(static_cast<Int8Matrix*>(std::move(r).value().release()));
}

std::vector<int> Codes(const Int8Matrix& m) {
  std::vector<int> q;
  for (int64_t j = 0; j < m.rows(); ++j)
    for (int64_t k = 0; k < m.cols(); ++k) q.push_back(m.Code(j, k));
  return q;
}

std::vector<float> Row(const Int8Matrix& m, int64_t j) {
  std::vector<float> out(static_cast<size_t>(m.cols()));
  m.DequantizeRow(j, out.data());
  return out;
}

TEST(Int8Formats, AbsmaxPerTensorByHand) {
  // s = 127/4 = 31.75; s·W = 31.75, −63.5, 15.875, 7.9375, 127, −95.25;
  // round half to even: 32, −64, 16, 8, 127, −95.
  auto m = Make(kInt8TensorFormat, kW, 2, 3);
  EXPECT_EQ(Codes(*m), (std::vector<int>{32, -64, 16, 8, 127, -95}));
  EXPECT_EQ(m->Scale(0, 0), 31.75f);
  EXPECT_EQ(Row(*m, 0), (std::vector<float>{32 / 31.75f, -64 / 31.75f, 16 / 31.75f}));
  EXPECT_EQ(Row(*m, 1), (std::vector<float>{8 / 31.75f, 127 / 31.75f, -95 / 31.75f}));
}

TEST(Int8Formats, AbsmaxQmaxOption) {
  // qmax = 100: s = 25; codes 25, −50, 12 (12.5 → 12), 6 (6.25), 100, −75.
  auto m = Make(kInt8TensorFormat, kW, 2, 3, {{"qmax", 100}});
  EXPECT_EQ(Codes(*m), (std::vector<int>{25, -50, 12, 6, 100, -75}));
}

TEST(Int8Formats, ZeropointPerTensorByHand) {
  // min −3, max 4: s = 255/7, z = round(−s·(−3) − 128) = round(−18.71) = −19.
  // s·W + z = 17.43, −91.86, −0.79, −9.89, 126.71, −128.29 → 17, −92, −1, −10, 127, −128.
  auto m = Make(kInt8TensorAsymFormat, kW, 2, 3);
  const float s = 255.0f / 7.0f;
  EXPECT_EQ(m->Scale(0, 0), s);
  EXPECT_EQ(m->ZeroPoint(0), -19.0f);
  EXPECT_EQ(Codes(*m), (std::vector<int>{17, -92, -1, -10, 127, -128}));
  EXPECT_EQ(Row(*m, 1), (std::vector<float>{(-10.0f + 19.0f) / s, (127.0f + 19.0f) / s,
                                            (-128.0f + 19.0f) / s}));
}

TEST(Int8Formats, AbsmaxPerRowByHand) {
  // Row 0: s = 127/2 = 63.5 → 63.5, −127, 31.75 → 64 (63.5 ties to even), −127, 32.
  // Row 1: s = 31.75 → 7.9375, 127, −95.25 → 8, 127, −95.
  auto m = Make(kInt8RowFormat, kW, 2, 3);
  EXPECT_EQ(Codes(*m), (std::vector<int>{64, -127, 32, 8, 127, -95}));
  EXPECT_EQ(Row(*m, 0), (std::vector<float>{64 / 63.5f, -127 / 63.5f, 32 / 63.5f}));
}

TEST(Int8Formats, ZeropointPerRowByHand) {
  // Row 0: min −2, max 1, s = 85, z = round(170 − 128) = 42; s·W + z = 127, −128, 84.5 → 127, −128, 84.
  auto m = Make(kInt8RowAsymFormat, kW, 2, 3);
  EXPECT_EQ(m->Scale(0, 0), 85.0f);
  EXPECT_EQ(m->ZeroPoint(0), 42.0f);
  EXPECT_EQ(m->Code(0, 0), 127);
  EXPECT_EQ(m->Code(0, 1), -128);
  EXPECT_EQ(m->Code(0, 2), 84);
  EXPECT_EQ(Row(*m, 0)[2], (84.0f - 42.0f) / 85.0f);
}

TEST(Int8Formats, ZeroQuantGroupsByHand) {
  // One row of 16 in groups of 8: group 0 max 4 → scale 8/256 = 1/32; group 1 all zero.
  std::vector<float> w(16, 0.0f);
  w[0] = 4.0f;   // 128 → clamped to 127
  w[1] = -4.0f;  // −128
  w[2] = 0.015625f;  // 0.5 → 0 (half to even)
  w[3] = 1.0f;   // 32
  auto m = Make(kInt8GroupFormat, w, 1, 16, {{"group", 8}, {"bits", 8}});
  EXPECT_EQ(m->Scale(0, 0), 1.0f / 32.0f);
  EXPECT_EQ(m->Scale(0, 1), 0.0f);
  EXPECT_EQ(m->Code(0, 0), 127);
  EXPECT_EQ(m->Code(0, 1), -128);
  EXPECT_EQ(m->Code(0, 2), 0);
  EXPECT_EQ(m->Code(0, 3), 32);
  EXPECT_EQ(Row(*m, 0)[0], 127.0f / 32.0f);
  // 4 bits: scale = 8/16 = 0.5; 4 → 8 → 7, −4 → −8, 1 → 2.
  auto m4 = Make(kInt8GroupFormat, w, 1, 16, {{"group", 8}, {"bits", 4}});
  EXPECT_EQ(m4->Scale(0, 0), 0.5f);
  EXPECT_EQ(m4->Code(0, 0), 7);
  EXPECT_EQ(m4->Code(0, 1), -8);
  EXPECT_EQ(m4->Code(0, 3), 2);
  EXPECT_EQ(Row(*m4, 0)[1], -4.0f);
  EXPECT_LT(m4->StoredBytes(), m->StoredBytes());
}

TEST(Int8Formats, GroupOptionsAreValidated) {
  ThreadPool pool(1);
  std::vector<float> w(64, 1.0f);
  EXPECT_FALSE(kInt8GroupFormat.quantize(w.data(), 1, 64, {{"group", 12}}, pool).ok());
  EXPECT_FALSE(kInt8GroupFormat.quantize(w.data(), 1, 64, {{"bits", 6}}, pool).ok());
  EXPECT_FALSE(kInt8TensorFormat.quantize(w.data(), 1, 64, {{"qmax", 200}}, pool).ok());
  EXPECT_FALSE(kInt8TensorAsymFormat.quantize(w.data(), 1, 64, {{"levels", 2.5}}, pool).ok());
}

// A checkpoint part holding a non-finite or huge zero-point must not reach the
// int cast of the kernel offset (undefined behaviour; found by
// quantized_checkpoint_fuzz, input fuzz/corpus/quantized_checkpoint_fuzz/
// regression-nan-zero-point). The loader refuses non-finite parts before this;
// here the format's own load is fed them directly, and UBSan (make asan-test)
// is what fails if the cast is reached.
TEST(Int8Formats, RestoreWithNonFiniteZeroPointIsDefined) {
  auto m = Make(kInt8RowAsymFormat, kW, 2, 3);
  ASSERT_TRUE(m);
  const StoredMatrix stored = m->Store();
  for (float bad : {std::nanf(""), INFINITY, -INFINITY, 3e38f}) {
    std::vector<StoredPart> parts = stored.parts;
    StoredParts view;
    view.where = "test: tensor 'w'";
    for (StoredPart& p : parts) {
      if (p.suffix == "zero_points") std::memcpy(p.bytes.data(), &bad, sizeof(float));
      view.parts[p.suffix] = {p.dtype, p.shape, p.bytes.data(), static_cast<int64_t>(p.bytes.size())};
    }
    auto loaded = kInt8RowAsymFormat.load(view, 2, 3, stored.params);
    if (!loaded.ok()) continue;  // refusing is fine too
    std::vector<float> x = {1.0f, 1.0f, 1.0f}, y(2);
    ThreadPool pool(1);
    loaded.value()->Multiply(x.data(), 1, y.data(), pool);
    // Row 1 was left intact and still multiplies as before.
    std::vector<float> expect(2);
    m->Multiply(x.data(), 1, expect.data(), pool);
    EXPECT_EQ(y[1], expect[1]) << bad;
  }
}

std::vector<float> Random(int64_t count, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(count));
  for (float& x : v) x = dist(rng);
  return v;
}

TEST(Int8Kernels, ActivationQuantizationFastEqualsReference) {
  for (int64_t cols : {1, 7, 100, 129, 768}) {
    auto x = Random(5 * cols, 3, 2.0f);
    std::fill(x.begin(), x.begin() + cols, 0.0f);  // an all-zero token
    const int64_t kpad = (cols + 63) / 64 * 64;
    QuantizedActivations a, b;
    QuantizeActivations(x.data(), 5, cols, kpad, 64, &a);
    QuantizeActivationsRef(x.data(), 5, cols, kpad, 64, &b);
    EXPECT_EQ(std::memcmp(a.q.data(), b.q.data(), a.q.size()), 0) << cols;
    EXPECT_EQ(std::memcmp(a.scale.data(), b.scale.data(), a.scale.size()), 0) << cols;
    EXPECT_EQ(std::memcmp(a.xsum.data(), b.xsum.data(), a.xsum.size()), 0) << cols;
    EXPECT_EQ(a.scale.as<float>()[0], 0.0f);
    // SmoothQuant's division by Δ_t, fast == reference, and its formula.
    QuantizedActivations c, d;
    QuantizeActivationsDelta(x.data(), 5, cols, kpad, 64, &c);
    QuantizeActivationsDeltaRef(x.data(), 5, cols, kpad, 64, &d);
    EXPECT_EQ(std::memcmp(c.q.data(), d.q.data(), c.q.size()), 0) << cols;
    EXPECT_EQ(std::memcmp(c.scale.data(), d.scale.data(), c.scale.size()), 0) << cols;
    EXPECT_EQ(std::memcmp(c.xsum.data(), d.xsum.data(), c.xsum.size()), 0) << cols;
    for (int64_t t = 0; t < 5; ++t) {
      float amax = 0.0f;
      for (int64_t k = 0; k < cols; ++k) amax = std::max(amax, std::fabs(x[t * cols + k]));
      const float delta = std::max(amax, 1e-5f) / 127.0f;
      EXPECT_EQ(c.scale.as<float>()[t], delta);
      for (int64_t k = 0; k < cols; ++k) {
        ASSERT_EQ(c.Row(t)[k], static_cast<int8_t>(std::nearbyint(x[t * cols + k] / delta))) << t << " " << k;
      }
    }
  }
}

// int8-row delta=1 (SmoothQuant's fake_quant): Δ = max(max|W_row|, 1e-5)/127,
// q = round(W/Δ), W' = q·Δ; stored and reloaded with the same arithmetic.
TEST(Int8Formats, DeltaFormFollowsSmoothQuantArithmetic) {
  ThreadPool pool(1);
  const int64_t rows = 5, cols = 37;
  auto w = Random(rows * cols, 21, 0.3f);
  std::fill(w.begin() + 2 * cols, w.begin() + 3 * cols, 0.0f);  // an all-zero row: Δ = 1e-5/127
  auto r = kInt8RowFormat.quantize(w.data(), rows, cols, {{"w8a8", 1}, {"delta", 1}}, pool);
  ASSERT_TRUE(r.ok()) << r.message();
  auto* m = static_cast<Int8Matrix*>(r.value().get());
  EXPECT_TRUE(m->delta_form());
  for (int64_t j = 0; j < rows; ++j) {
    float amax = 0.0f;
    for (int64_t k = 0; k < cols; ++k) amax = std::max(amax, std::fabs(w[j * cols + k]));
    const float delta = std::max(amax, 1e-5f) / 127.0f;
    EXPECT_EQ(m->Scale(j, 0), delta);
    const std::vector<float> row = Row(*m, j);
    for (int64_t k = 0; k < cols; ++k) {
      const float q = std::nearbyint(w[j * cols + k] / delta);
      EXPECT_EQ(m->Code(j, k), static_cast<int>(q)) << j << " " << k;
      EXPECT_EQ(row[k], q * delta) << j << " " << k;
    }
  }
  // W8A8 products: Σ q_x·q_w exact, times Δ_t·Δ_o.
  auto x = Random(3 * cols, 22, 1.0f);
  std::vector<float> y(3 * rows);
  m->Multiply(x.data(), 3, y.data(), pool);
  for (int64_t t = 0; t < 3; ++t) {
    float amax = 0.0f;
    for (int64_t k = 0; k < cols; ++k) amax = std::max(amax, std::fabs(x[t * cols + k]));
    const float dx = std::max(amax, 1e-5f) / 127.0f;
    for (int64_t j = 0; j < rows; ++j) {
      double acc = 0;
      for (int64_t k = 0; k < cols; ++k) acc += std::nearbyint(x[t * cols + k] / dx) * m->Code(j, k);
      const double expect = acc * dx * m->Scale(j, 0);
      EXPECT_NEAR(y[t * rows + j], expect, 1e-5 * (std::fabs(expect) + 1e-6)) << t << " " << j;
    }
  }
  // Store → load keeps the form: same dequantized rows and products.
  const StoredMatrix stored = m->Store();
  EXPECT_EQ(stored.params.at("delta"), 1.0);
  StoredParts view;
  view.where = "test";
  for (const StoredPart& p : stored.parts) {
    view.parts[p.suffix] = {p.dtype, p.shape, p.bytes.data(), static_cast<int64_t>(p.bytes.size())};
  }
  auto loaded = kInt8RowFormat.load(view, rows, cols, stored.params);
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  std::vector<float> y2(y.size());
  loaded.value()->Multiply(x.data(), 3, y2.data(), pool);
  EXPECT_EQ(y2, y);
  for (int64_t j = 0; j < rows; ++j) {
    std::vector<float> a(cols), b(cols);
    m->DequantizeRow(j, a.data());
    loaded.value()->DequantizeRow(j, b.data());
    EXPECT_EQ(a, b);
  }
  // Only the per-row format has the option.
  EXPECT_FALSE(kInt8TensorFormat.quantize(w.data(), rows, cols, {{"delta", 1}}, pool).ok());
  EXPECT_FALSE(kInt8RowFormat.quantize(w.data(), rows, cols, {{"delta", 2}}, pool).ok());
}

// Every kernel this CPU has, W8A8 and weight-only (the decode GEMV for n <= 8),
// gives the scalar reference's result bit for bit.
TEST(Int8Kernels, SimdKernelsMatchScalarBitwise) {
  std::vector<Int8Isa> isas = {Int8Isa::kAvx2};
  if (BestInt8Isa() == Int8Isa::kAvx512Vnni) isas.push_back(Int8Isa::kAvx512Vnni);
  struct Case {
    const FormatTraits* f;
    FormatParams params;
  };
  const std::vector<Case> cases = {
      {&kInt8TensorFormat, {}},        {&kInt8RowFormat, {}},           {&kInt8RowAsymFormat, {}},
      {&kInt8TensorAsymFormat, {}},    {&kInt8GroupFormat, {}},
      {&kInt8GroupFormat, {{"bits", 4}}}, {&kInt8GroupFormat, {{"group", 24}, {"bits", 4}}},
      {&kLlmInt8Format, {{"threshold", 0}}},
  };
  ThreadPool pool(2);
  for (const Case& c : cases) {
    for (auto [rows, cols] : {std::pair<int64_t, int64_t>{37, 100}, {37, 129}, {80, 600}}) {
      auto w = Random(rows * cols, 1, 0.1f);
      for (int64_t i = 0; i < cols; ++i) w[i] += 0.3f;  // an all-positive-ish row
      auto r = c.f->quantize(w.data(), rows, cols, c.params, pool);
      ASSERT_TRUE(r.ok()) << r.message();
      auto* m = static_cast<Int8Matrix*>(r.value().get());
      for (bool w8a8 : {true, false}) {
        m->set_w8a8(w8a8);
        for (int64_t n : {1, 5, 7, 8, 53}) {
          auto x = Random(n * cols, 2 + static_cast<uint32_t>(n), 1.0f);
          std::vector<float> ref(static_cast<size_t>(n * rows)), got(ref.size());
          m->set_isa(Int8Isa::kScalar);
          m->Multiply(x.data(), n, ref.data(), pool);
          for (Int8Isa isa : isas) {
            m->set_isa(isa);
            std::fill(got.begin(), got.end(), -7.0f);
            m->Multiply(x.data(), n, got.data(), pool);
            EXPECT_EQ(std::memcmp(ref.data(), got.data(), ref.size() * 4), 0)
                << c.f->name << " w8a8 " << w8a8 << " isa " << static_cast<int>(isa) << " [" << rows
                << ", " << cols << "] n=" << n;
          }
        }
      }
    }
  }
}

// W8A8 of an asymmetric format equals Σ_k qx·(q − z)/s evaluated directly.
TEST(Int8Kernels, W8A8MatchesIntegerFormula) {
  ThreadPool pool(1);
  const int64_t rows = 19, cols = 45;
  auto w = Random(rows * cols, 8, 0.2f);
  auto r = kInt8RowAsymFormat.quantize(w.data(), rows, cols, {{"w8a8", 1}}, pool);
  ASSERT_TRUE(r.ok());
  auto* m = static_cast<Int8Matrix*>(r.value().get());
  ASSERT_TRUE(m->w8a8());
  auto x = Random(2 * cols, 9, 1.0f);
  std::vector<float> y(2 * rows);
  m->Multiply(x.data(), 2, y.data(), pool);
  for (int64_t t = 0; t < 2; ++t) {
    float amax = 0;
    for (int64_t k = 0; k < cols; ++k) amax = std::max(amax, std::fabs(x[t * cols + k]));
    for (int64_t j = 0; j < rows; ++j) {
      double acc = 0;
      for (int64_t k = 0; k < cols; ++k) {
        const double qx = std::nearbyint(x[t * cols + k] * (127.0f / amax));
        acc += qx * (m->Code(j, k) - m->ZeroPoint(j));
      }
      const double expect = acc / m->Scale(j, 0) * (amax / 127.0);
      EXPECT_NEAR(y[t * rows + j], expect, 1e-5 * (std::fabs(expect) + 1)) << t << " " << j;
    }
  }
}

}  // namespace
}  // namespace gpt2q
