// int-group: codes and values by hand, the packing of every bit width, the
// fused kernels (scalar, AVX2, AVX-512) bit for bit, token-count and thread
// independence, products vs double precision, and every validation.
#include "formats/int_group.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/half.h"
#include "formats/stored_parts.h"

namespace gpt2q {
namespace {

std::vector<float> Normal(int64_t n, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

struct Case {
  int bits;
  int64_t rows, cols, group;
};

// Odd shapes: short last groups, groups that are not whole packing units,
// rows that do not fill a panel, per-row groups of 192 (the held-out shapes).
std::vector<Case> Cases() {
  std::vector<Case> out;
  for (int bits : {2, 3, 4, 8}) {
    out.push_back({bits, 37, 100, 32});
    out.push_back({bits, 19, 192, -1});
    out.push_back({bits, 33, 129, 100});
    out.push_back({bits, 5, 70, 7});
    out.push_back({bits, 16, 256, 128});
  }
  return out;
}

std::unique_ptr<IntGroupMatrix> Rtn(const std::vector<float>& w, const Case& c, ThreadPool& pool, bool sym = false) {
  auto r = kIntGroupFormat.quantize(w.data(), c.rows, c.cols,
                                    {{"bits", c.bits}, {"group", static_cast<double>(c.group)}, {"sym", sym ? 1 : 0}},
                                    pool);
  EXPECT_TRUE(r.ok()) << r.message();
  if (!r.ok()) return nullptr;
  return std::unique_ptr<IntGroupMatrix>(static_cast<IntGroupMatrix*>(std::move(r).value().release()));
}

TEST(IntGroup, CodesAndValuesByHand) {
  ThreadPool pool(1);
  // Group 4, 4 bits. Group 0 of row 0: range [−1.5, 6] → scale 0.5, zero 3.
  // Group 1 of row 0: all zero → [−1, 1]: scale 2/15, zero 7 (1/scale = 7.4999995).
  std::vector<float> w = {-1.5f, 0.0f, 6.0f, 0.25f, 0, 0, 0, 0,
                          1.0f,  2.0f, 3.0f, 7.5f,  -7.5f, -2.0f, -1.0f, -0.5f};
  auto m = kIntGroupFormat.quantize(w.data(), 2, 8, {{"group", 4}}, pool);
  ASSERT_TRUE(m.ok()) << m.message();
  const auto& g = static_cast<const IntGroupMatrix&>(*m.value());
  EXPECT_EQ(g.Params(0, 0).scale, 0.5f);
  EXPECT_EQ(g.Params(0, 0).zero, 3);
  EXPECT_EQ(g.Params(0, 1).scale, Fp16ToFloat(FloatToFp16(2.0f / 15.0f)));
  EXPECT_EQ(g.Params(0, 1).zero, 7);
  EXPECT_EQ(g.Params(1, 0).zero, 0);   // all positive: xmin = 0
  EXPECT_EQ(g.Params(1, 1).zero, 15);  // all negative: xmax = 0
  const int32_t codes0[] = {0, 3, 15, 3, 7, 7, 7, 7};  // 0.25/0.5 = 0.5 rounds to 0
  for (int k = 0; k < 8; ++k) EXPECT_EQ(g.Code(0, k), codes0[k]) << k;
  std::vector<float> row(8);
  g.DequantizeRow(0, row.data());
  EXPECT_EQ(row[0], -1.5f);
  EXPECT_EQ(row[2], 6.0f);
  EXPECT_EQ(row[3], 0.0f);
  for (int k = 4; k < 8; ++k) EXPECT_EQ(row[k], 0.0f);
  g.DequantizeRow(1, row.data());
  EXPECT_EQ(row[3], 7.5f);
  EXPECT_EQ(row[4], -7.5f);
  // 4-bit, group 4 → one unit of 8 codes per group (4 padded): 2 words of 16 rows,
  // 2 × 16 fp16 scales, 2 × 16 zero-points.
  EXPECT_EQ(g.StoredBytes(), 2 * 16 * 4 + 2 * 16 * 2 + 2 * 16);
}

TEST(IntGroup, PackingRoundTripsEveryBitWidth) {
  std::mt19937 rng(3);
  for (const Case& c : Cases()) {
    SCOPED_TRACE("bits " + std::to_string(c.bits) + " [" + std::to_string(c.rows) + ", " + std::to_string(c.cols) +
                 "] group " + std::to_string(c.group));
    IntGroupOptions o;
    o.bits = c.bits;
    o.group = c.group;
    const int64_t group = o.GroupFor(c.cols), n_groups = (c.cols + group - 1) / group;
    const int32_t maxq = MaxCode(c.bits);
    std::vector<GroupQuant> params(static_cast<size_t>(c.rows * n_groups));
    std::vector<int32_t> codes(static_cast<size_t>(c.rows * c.cols));
    for (auto& p : params) p = GroupQuant{0.01f * static_cast<float>(rng() % 100 + 1), static_cast<int32_t>(rng() % (maxq + 1))};
    for (auto& q : codes) q = static_cast<int32_t>(rng() % (maxq + 1));
    auto m = IntGroupMatrix::FromGroupQuant(c.rows, c.cols, o, params.data(), codes.data());
    ASSERT_TRUE(m.ok()) << m.message();
    std::vector<float> row(static_cast<size_t>(c.cols));
    for (int64_t j = 0; j < c.rows; ++j) {
      (*m)->DequantizeRow(j, row.data());
      for (int64_t k = 0; k < c.cols; ++k) {
        ASSERT_EQ((*m)->Code(j, k), codes[j * c.cols + k]) << j << " " << k;
        const GroupQuant& p = params[j * n_groups + k / group];
        const float scale = Fp16ToFloat(FloatToFp16(p.scale));
        ASSERT_EQ(row[k], scale * static_cast<float>(codes[j * c.cols + k] - p.zero)) << j << " " << k;
      }
    }
  }
}

TEST(IntGroup, RtnIsGptqQuantizerWithFp32ScaleThenFp16Storage) {
  ThreadPool pool(2);
  for (bool sym : {false, true}) {
    const Case c{3, 21, 192, 64};
    auto w = Normal(c.rows * c.cols, 9, 0.05f);
    auto m = Rtn(w, c, pool, sym);
    ASSERT_NE(m, nullptr);
    for (int64_t j = 0; j < c.rows; ++j) {
      for (int64_t g = 0; g < 3; ++g) {
        const float* x = w.data() + j * c.cols + g * 64;
        const GroupQuant ref = GptqGroupQuant(x, 64, 3, sym);
        EXPECT_EQ(m->Params(j, g).zero, ref.zero);
        EXPECT_EQ(m->Params(j, g).scale, Fp16ToFloat(FloatToFp16(ref.scale)));
        for (int64_t i = 0; i < 64; ++i) ASSERT_EQ(m->Code(j, g * 64 + i), QuantizeToCode(x[i], ref, 7));
      }
    }
  }
}

TEST(IntGroup, FusedKernelsMatchTheScalarReferenceBitForBit) {
  ThreadPool pool(1);
  const bool avx512 = BestIntGroupIsa() == IntGroupIsa::kAvx512;
  for (const Case& c : Cases()) {
    SCOPED_TRACE("bits " + std::to_string(c.bits) + " cols " + std::to_string(c.cols) + " group " +
                 std::to_string(c.group));
    auto w = Normal(c.rows * c.cols, 1 + c.bits, 0.1f);
    auto m = Rtn(w, c, pool);
    ASSERT_NE(m, nullptr);
    for (int64_t n = 1; n <= kIntGroupGemvMaxTokens; ++n) {
      auto x = Normal(n * c.cols, 50 + static_cast<uint32_t>(n), 1.0f);
      std::vector<float> ref(static_cast<size_t>(n * c.rows)), fast(ref.size(), -1.0f);
      m->set_isa(IntGroupIsa::kScalar);
      m->Multiply(x.data(), n, ref.data(), pool);
      m->set_isa(IntGroupIsa::kAvx2);
      m->Multiply(x.data(), n, fast.data(), pool);
      EXPECT_TRUE(SameBits(ref, fast)) << "AVX2 n=" << n;
      if (avx512) {
        m->set_isa(IntGroupIsa::kAvx512);
        std::fill(fast.begin(), fast.end(), -1.0f);
        m->Multiply(x.data(), n, fast.data(), pool);
        EXPECT_TRUE(SameBits(ref, fast)) << "AVX-512 n=" << n;
      }
    }
  }
  if (!avx512) GTEST_LOG_(INFO) << "no AVX-512F/BW/VL on this CPU: the AVX-512 kernel was not run";
}

TEST(IntGroup, DequantizedTilesMatchTheReference) {
  for (const Case& c : Cases()) {
    ThreadPool pool(1);
    auto w = Normal(c.rows * c.cols, 17, 0.1f);
    auto m = Rtn(w, c, pool);
    ASSERT_NE(m, nullptr);
    const IntGroupPacked& p = m->packed();
    const int64_t ld = p.rows_pad + 3;
    std::vector<float> ref(static_cast<size_t>(c.cols * ld), 7.0f), fast(ref.size(), 7.0f);
    IntGroupDequantizePanelsTRef(p, 0, p.n_panels(), ref.data(), ld);
    IntGroupDequantizePanelsT(p, 0, p.n_panels(), fast.data(), ld);
    EXPECT_TRUE(SameBits(ref, fast)) << c.bits << " " << c.cols;
    std::vector<float> row(static_cast<size_t>(c.cols));
    m->DequantizeRow(c.rows - 1, row.data());
    for (int64_t k = 0; k < c.cols; ++k) ASSERT_EQ(row[k], fast[k * ld + c.rows - 1]) << k;
  }
}

TEST(IntGroup, TokenResultsDoNotDependOnTheCallOrTheThreads) {
  ThreadPool one(1), two(2);
  const Case c{4, 75, 192, 128};
  auto w = Normal(c.rows * c.cols, 4, 0.1f);
  auto m = Rtn(w, c, two);
  ASSERT_NE(m, nullptr);
  // Decode: 8 tokens in one call equal each token alone.
  auto x = Normal(40 * c.cols, 8, 1.0f);
  std::vector<float> all(static_cast<size_t>(8 * c.rows)), alone(static_cast<size_t>(c.rows));
  m->Multiply(x.data(), 8, all.data(), two);
  for (int64_t t = 0; t < 8; ++t) {
    m->Multiply(x.data() + t * c.cols, 1, alone.data(), one);
    EXPECT_EQ(std::memcmp(alone.data(), all.data() + t * c.rows, c.rows * sizeof(float)), 0) << t;
  }
  // Every split of 8 tokens into calls gives the same rows.
  std::vector<float> split(all.size());
  m->Multiply(x.data(), 3, split.data(), two);
  m->Multiply(x.data() + 3 * c.cols, 5, split.data() + 3 * c.rows, one);
  EXPECT_TRUE(SameBits(all, split));
  // Prefill (tiles + SGEMM): independent of the thread count. (OpenBLAS's
  // SGEMM rounds a token's row differently for different token counts, so
  // across calls of different n > 8 only closeness holds: see ProductsMatchDoublePrecision.)
  std::vector<float> y40(static_cast<size_t>(40 * c.rows)), y40b(y40.size());
  m->Multiply(x.data(), 40, y40.data(), one);
  m->Multiply(x.data(), 40, y40b.data(), two);
  EXPECT_TRUE(SameBits(y40, y40b));
}

TEST(IntGroup, ProductsMatchDoublePrecision) {
  ThreadPool pool(2);
  for (const Case& c : Cases()) {
    auto w = Normal(c.rows * c.cols, 21, 0.1f);
    auto m = Rtn(w, c, pool);
    ASSERT_NE(m, nullptr);
    std::vector<float> d(static_cast<size_t>(c.rows * c.cols));
    for (int64_t j = 0; j < c.rows; ++j) m->DequantizeRow(j, d.data() + j * c.cols);
    for (int64_t n : {1, 3, 20}) {
      auto x = Normal(n * c.cols, 5, 1.0f);
      std::vector<float> y(static_cast<size_t>(n * c.rows));
      m->Multiply(x.data(), n, y.data(), pool);
      for (int64_t t = 0; t < n; ++t) {
        for (int64_t j = 0; j < c.rows; ++j) {
          double ref = 0, mag = 0;
          for (int64_t k = 0; k < c.cols; ++k) {
            ref += double(x[t * c.cols + k]) * d[j * c.cols + k];
            mag += std::fabs(double(x[t * c.cols + k]) * d[j * c.cols + k]);
          }
          // fp32 accumulation: a few ulps of the sum of magnitudes.
          ASSERT_NEAR(y[t * c.rows + j], ref, 4e-7 * mag * std::sqrt(double(c.cols)) + 1e-12)
              << c.bits << " n=" << n << " t=" << t << " j=" << j;
        }
      }
    }
  }
}

TEST(IntGroup, OptionsAreValidated) {
  ThreadPool pool(1);
  std::vector<float> w(64, 0.5f);
  auto bad = [&](FormatParams p, const std::string& needle) {
    auto r = kIntGroupFormat.quantize(w.data(), 2, 32, p, pool);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.message().find(needle), std::string::npos) << r.message();
    EXPECT_NE(r.message().find("expected"), std::string::npos) << r.message();
  };
  bad({{"bits", 5}}, "bits=5");
  bad({{"bits", 1}}, "bits=1");
  bad({{"group", 0}}, "group=0");
  bad({{"group", -2}}, "group=-2");
  bad({{"group", 1.5}}, "group=1.5");
  bad({{"sym", 2}}, "sym=2");
  auto unknown = kIntGroupFormat.quantize(w.data(), 2, 32, {{"zero", 1}}, pool);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.message().find("valid options: bits, group, sym"), std::string::npos);
  // Group larger than the row and group 1 are fine.
  EXPECT_TRUE(kIntGroupFormat.quantize(w.data(), 2, 32, {{"group", 1000}}, pool).ok());
  EXPECT_TRUE(kIntGroupFormat.quantize(w.data(), 2, 32, {{"group", 1}, {"bits", 2}}, pool).ok());
  // A range too wide for an fp16 scale.
  std::vector<float> wide(64, 0.0f);
  wide[40] = 3e6f;
  auto r = kIntGroupFormat.quantize(wide.data(), 2, 32, {}, pool);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("row 1, group 0"), std::string::npos) << r.message();
  EXPECT_NE(r.message().find("65504"), std::string::npos) << r.message();
}

TEST(IntGroup, FromGroupQuantRejectsWhatTheFormatCannotHold) {
  IntGroupOptions o;
  o.bits = 3;
  o.group = 4;
  std::vector<GroupQuant> params(4, GroupQuant{0.5f, 3});
  std::vector<int32_t> codes(16, 2);
  auto ok = IntGroupMatrix::FromGroupQuant(2, 8, o, params.data(), codes.data());
  ASSERT_TRUE(ok.ok()) << ok.message();
  auto fails = [&](const std::string& needle) {
    auto r = IntGroupMatrix::FromGroupQuant(2, 8, o, params.data(), codes.data());
    ASSERT_FALSE(r.ok()) << needle;
    EXPECT_NE(r.message().find(needle), std::string::npos) << r.message();
    params.assign(4, GroupQuant{0.5f, 3});
    codes.assign(16, 2);
  };
  codes[13] = 8;
  fails("row 1, group 1: code 8 at column 5; expected an integer in [0, 7]");
  codes[0] = -1;
  fails("code -1");
  params[2].zero = 8;
  fails("row 1, group 0: zero-point 8");
  params[1].scale = std::numeric_limits<float>::infinity();
  fails("row 0, group 1: scale inf");
  params[1].scale = 70000.0f;
  fails("65504");
  o.sym = true;
  fails("zero-point 3; expected 4 (sym=1)");
  o.bits = 5;
  fails("bits=5");
}

TEST(IntGroup, LoadRejectsBadScalesAndZeroPoints) {
  ThreadPool pool(1);
  auto w = Normal(3 * 40, 2, 0.1f);
  auto m = kIntGroupFormat.quantize(w.data(), 3, 40, {{"group", 16}, {"bits", 2}}, pool);
  ASSERT_TRUE(m.ok());
  StoredMatrix stored = (*m)->Store();
  auto load = [&](const StoredMatrix& s) {
    StoredParts parts;
    parts.where = "x.safetensors: tensor 'w'";
    for (const StoredPart& p : s.parts) {
      parts.parts[p.suffix] = StoredPartView{p.dtype, p.shape, p.bytes.data(), static_cast<int64_t>(p.bytes.size())};
    }
    return kIntGroupFormat.load(parts, 3, 40, s.params);
  };
  ASSERT_TRUE(load(stored).ok());
  StoredMatrix bad = stored;
  for (StoredPart& p : bad.parts) {
    if (p.suffix == "scales") p.bytes[2 * 4 + 1] = 0x7c;  // row 1, group 1: inf
  }
  auto r = load(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("x.safetensors: tensor 'w': part 'scales' value at row 1, group 1"), std::string::npos)
      << r.message();
  bad = stored;
  for (StoredPart& p : bad.parts) {
    if (p.suffix == "zeros") p.bytes[5] = 4;  // 2-bit: at most 3
  }
  r = load(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("at most 3 (bits=2), got 4"), std::string::npos) << r.message();
  bad = stored;
  bad.params.erase("sym");
  EXPECT_FALSE(load(bad).ok());
  bad = stored;
  bad.params["bits"] = 4;  // the codes part no longer has the right shape
  r = load(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("part 'codes' shape"), std::string::npos) << r.message();
}

}  // namespace
}  // namespace gpt2q
