// int8-row's static activation step (act_delta, SmoothQuant act=static):
// fast quantization equals the scalar reference, every kernel agrees bit for
// bit, the product equals the formula, and the step survives Store/load.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "formats/int8_formats.h"
#include "formats/int8_matrix.h"
#include "formats/stored_parts.h"
#include "kernels/int8_gemm.h"
#include "kernels/quantize_activations.h"

namespace gpt2q {
namespace {

std::vector<float> Random(int64_t n, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

constexpr float kDelta = 1.0f / 64;  // |x| up to 3 → codes up to ±192: the clamp is exercised

TEST(Int8Static, ActivationQuantizationFastEqualsReferenceAndClamps) {
  for (int64_t cols : {1, 7, 100, 129, 768}) {
    auto x = Random(5 * cols, 4, 3.0f);
    x[0] = 0.5f * kDelta;   // a tie: rounds to even (0)
    if (cols > 1) x[cols - 1] = 1.5f * kDelta;  // a tie: rounds to 2
    const int64_t kpad = (cols + 63) / 64 * 64;
    QuantizedActivations a, b;
    QuantizeActivationsStatic(x.data(), 5, cols, kpad, 64, kDelta, &a);
    QuantizeActivationsStaticRef(x.data(), 5, cols, kpad, 64, kDelta, &b);
    EXPECT_EQ(std::memcmp(a.q.data(), b.q.data(), a.q.size()), 0) << cols;
    EXPECT_EQ(std::memcmp(a.xsum.data(), b.xsum.data(), a.xsum.size()), 0) << cols;
    for (int64_t t = 0; t < 5; ++t) {
      EXPECT_EQ(a.scale.as<float>()[t], kDelta);
      for (int64_t k = 0; k < cols; ++k) {
        const float expect = std::clamp(std::nearbyint(x[t * cols + k] / kDelta), -127.0f, 127.0f);
        ASSERT_EQ(a.Row(t)[k], static_cast<int8_t>(expect)) << cols << " " << t << " " << k;
      }
    }
    EXPECT_EQ(a.Row(0)[0], 0);
  }
}

TEST(Int8Static, KernelsMatchScalarAndTheFormula) {
  std::vector<Int8Isa> isas = {Int8Isa::kAvx2};
  if (BestInt8Isa() == Int8Isa::kAvx512Vnni) isas.push_back(Int8Isa::kAvx512Vnni);
  ThreadPool pool(2);
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{37, 100}, {37, 129}, {80, 600}}) {
    auto w = Random(rows * cols, 1, 0.1f);
    auto r = kInt8RowFormat.quantize(w.data(), rows, cols, {{"w8a8", 1}, {"act_delta", kDelta}}, pool);
    ASSERT_TRUE(r.ok()) << r.message();
    auto* m = static_cast<Int8Matrix*>(r.value().get());
    EXPECT_EQ(m->act_delta(), kDelta);
    for (int64_t n : {1, 5, 53}) {
      auto x = Random(n * cols, 2 + static_cast<uint32_t>(n), 3.0f);
      std::vector<float> ref(static_cast<size_t>(n * rows)), got(ref.size());
      m->set_isa(Int8Isa::kScalar);
      m->Multiply(x.data(), n, ref.data(), pool);
      for (Int8Isa isa : isas) {
        m->set_isa(isa);
        m->Multiply(x.data(), n, got.data(), pool);
        EXPECT_EQ(std::memcmp(ref.data(), got.data(), ref.size() * 4), 0)
            << "isa " << static_cast<int>(isa) << " [" << rows << ", " << cols << "] n=" << n;
      }
      for (int64_t t = 0; t < n; ++t) {
        for (int64_t j = 0; j < rows; ++j) {
          double acc = 0;
          for (int64_t k = 0; k < cols; ++k) {
            const double qx = std::clamp(std::nearbyint(x[t * cols + k] / kDelta), -127.0f, 127.0f);
            acc += qx * m->Code(j, k);
          }
          const double expect = acc / m->Scale(j, 0) * kDelta;
          ASSERT_NEAR(ref[t * rows + j], expect, 1e-5 * (std::fabs(expect) + 1)) << t << " " << j;
        }
      }
    }
  }
}

TEST(Int8Static, StepIsStoredAndLoadedAndValidated) {
  ThreadPool pool(1);
  auto w = Random(20 * 48, 3, 0.2f);
  auto r = kInt8RowFormat.quantize(w.data(), 20, 48, {{"w8a8", 1}, {"act_delta", 0.03125}}, pool);
  ASSERT_TRUE(r.ok()) << r.message();
  StoredMatrix stored = (*r)->Store();
  EXPECT_EQ(stored.params.at("act_delta"), 0.03125);
  StoredParts parts;
  parts.where = "test";
  for (const StoredPart& p : stored.parts) {
    parts.parts[p.suffix] = StoredPartView{p.dtype, p.shape, p.bytes.data(), static_cast<int64_t>(p.bytes.size())};
  }
  auto loaded = kInt8RowFormat.load(parts, 20, 48, stored.params);
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  EXPECT_EQ(static_cast<const Int8Matrix&>(**loaded).act_delta(), 0.03125f);
  auto x = Random(3 * 48, 9, 1.0f);
  std::vector<float> a(60), b(60);
  (*r)->Multiply(x.data(), 3, a.data(), pool);
  (*loaded)->Multiply(x.data(), 3, b.data(), pool);
  EXPECT_EQ(a, b);
  // Per-token matrices store no step.
  auto token = kInt8RowFormat.quantize(w.data(), 20, 48, {{"w8a8", 1}}, pool);
  EXPECT_EQ((*token)->Store().params.count("act_delta"), 0u);

  for (const FormatParams& bad : std::vector<FormatParams>{{{"w8a8", 1}, {"act_delta", -1}},
                                                           {{"w8a8", 1}, {"act_delta", 0}},
                                                           {{"w8a8", 1}, {"act_delta", 0.1}},  // not an fp32 value
                                                           {{"w8a8", 0}, {"act_delta", 0.5}}}) {
    auto q = kInt8RowFormat.quantize(w.data(), 20, 48, bad, pool);
    ASSERT_FALSE(q.ok());
    EXPECT_NE(q.message().find("act_delta"), std::string::npos) << q.message();
    EXPECT_FALSE(kInt8RowFormat.load(parts, 20, 48, bad).ok());
  }
  // Only int8-row has the option.
  EXPECT_FALSE(kInt8TensorFormat.quantize(w.data(), 20, 48, {{"w8a8", 1}, {"act_delta", 0.5}}, pool).ok());
}

}  // namespace
}  // namespace gpt2q
