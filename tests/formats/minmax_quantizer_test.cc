// GPTQ's and AWQ's min-max group quantizers against hand-computed cases
// (exact fp32 values; ties at .5 round to even as torch.round does).
#include "formats/minmax_quantizer.h"

#include <gtest/gtest.h>

#include <limits>
#include <vector>

namespace gpt2q {
namespace {

GroupQuant Gptq(std::vector<float> x, int bits, bool sym) {
  return GptqGroupQuant(x.data(), static_cast<int64_t>(x.size()), bits, sym);
}
GroupQuant Awq(std::vector<float> x, int bits) {
  return AwqGroupQuant(x.data(), static_cast<int64_t>(x.size()), bits);
}

TEST(MinmaxQuantizer, MaxCodeIsTwoToTheBitsMinusOne) {
  EXPECT_EQ(MaxCode(2), 3);
  EXPECT_EQ(MaxCode(3), 7);
  EXPECT_EQ(MaxCode(4), 15);
  EXPECT_EQ(MaxCode(8), 255);
}

TEST(MinmaxQuantizer, GptqAsymmetricFourBit) {
  // range 7.5 / 15 = 0.5 exactly; zero = round(1.5 / 0.5) = 3.
  GroupQuant g = Gptq({-1.5f, 0.0f, 6.0f, 2.0f}, 4, false);
  EXPECT_EQ(g.scale, 0.5f);
  EXPECT_EQ(g.zero, 3);
  EXPECT_EQ(QuantizeToCode(-1.5f, g, 15), 0);
  EXPECT_EQ(QuantizeToCode(6.0f, g, 15), 15);
  EXPECT_EQ(QuantizeToCode(0.0f, g, 15), 3);
  // Ties: x/scale = 0.5 → 0, 1.5 → 2, 2.5 → 2, −0.5 → −0, −1.5 → −2.
  EXPECT_EQ(QuantizeToCode(0.25f, g, 15), 3);
  EXPECT_EQ(QuantizeToCode(0.75f, g, 15), 5);
  EXPECT_EQ(QuantizeToCode(1.25f, g, 15), 5);
  EXPECT_EQ(QuantizeToCode(-0.25f, g, 15), 3);
  EXPECT_EQ(QuantizeToCode(-0.75f, g, 15), 1);
  // Outside the range: clamped.
  EXPECT_EQ(QuantizeToCode(100.0f, g, 15), 15);
  EXPECT_EQ(QuantizeToCode(-100.0f, g, 15), 0);
  EXPECT_EQ(DequantizeCode(0, g), -1.5f);
  EXPECT_EQ(DequantizeCode(15, g), 6.0f);
  EXPECT_EQ(DequantizeCode(3, g), 0.0f);
}

TEST(MinmaxQuantizer, GptqRangeAlwaysIncludesZero) {
  // All positive: xmin = 0 → zero = 0; all negative: xmax = 0 → zero = maxq.
  GroupQuant pos = Gptq({1.0f, 7.5f}, 4, false);
  EXPECT_EQ(pos.scale, 0.5f);
  EXPECT_EQ(pos.zero, 0);
  GroupQuant neg = Gptq({-7.5f, -2.0f}, 4, false);
  EXPECT_EQ(neg.scale, 0.5f);
  EXPECT_EQ(neg.zero, 15);
  EXPECT_EQ(QuantizeToCode(-2.0f, neg, 15), 11);
}

TEST(MinmaxQuantizer, GptqZeroPointTiesRoundToEven) {
  // −xmin/scale = 2.5 → 2 and 3.5 → 4.
  EXPECT_EQ(Gptq({-1.25f, 6.25f}, 4, false).zero, 2);
  EXPECT_EQ(Gptq({-1.75f, 5.75f}, 4, false).zero, 4);
}

TEST(MinmaxQuantizer, GptqAllZeroGroupBecomesMinusOneToOne) {
  // scale = 2/maxq in fp32; zero = round(1/scale) where 1/scale is computed in
  // fp32: 2-bit 1.5 → 2 (tie to even), 3-bit 3.4999998 → 3, 4-bit 7.4999995 → 7,
  // 8-bit 127.49999 → 127.
  const std::vector<float> zeros(5, 0.0f);
  const int bits[] = {2, 3, 4, 8};
  const int32_t expect_zero[] = {2, 3, 7, 127};
  for (int i = 0; i < 4; ++i) {
    GroupQuant g = Gptq(zeros, bits[i], false);
    EXPECT_EQ(g.scale, 2.0f / static_cast<float>(MaxCode(bits[i]))) << bits[i];
    EXPECT_EQ(g.zero, expect_zero[i]) << bits[i];
    EXPECT_EQ(DequantizeCode(QuantizeToCode(0.0f, g, MaxCode(bits[i])), g), 0.0f) << bits[i];
    GroupQuant s = Gptq(zeros, bits[i], true);
    EXPECT_EQ(s.scale, g.scale) << bits[i];
    EXPECT_EQ(s.zero, (MaxCode(bits[i]) + 1) / 2) << bits[i];
  }
  // n = 0 behaves as an all-zero group.
  GroupQuant e = GptqGroupQuant(nullptr, 0, 4, false);
  EXPECT_EQ(e.zero, 7);
}

TEST(MinmaxQuantizer, GptqSymmetric) {
  // xmax = max(|−3|, 1) = 3, xmin = −3: scale = 6/15, zero = 8.
  GroupQuant g = Gptq({-3.0f, 1.0f}, 4, true);
  EXPECT_EQ(g.scale, 6.0f / 15.0f);
  EXPECT_EQ(g.zero, 8);
  EXPECT_EQ(QuantizeToCode(-3.0f, g, 15), 0);
  EXPECT_EQ(QuantizeToCode(3.0f, g, 15), 15);  // round(7.5) = 8 → 16, clamped
  // 3-bit: range [−3.5, 3.5] → scale 1, zero 4.
  GroupQuant g3 = Gptq({2.0f, -3.5f}, 3, true);
  EXPECT_EQ(g3.scale, 1.0f);
  EXPECT_EQ(g3.zero, 4);
  EXPECT_EQ(QuantizeToCode(2.5f, g3, 7), 6);  // round(2.5) = 2
  // All non-negative: xmin stays 0 (only xmin < 0 is mirrored), so the scale
  // covers [0, xmax] with maxq steps while zero sits at the middle code.
  GroupQuant pos = Gptq({1.0f, 3.0f}, 4, true);
  EXPECT_EQ(pos.scale, 3.0f / 15.0f);
  EXPECT_EQ(pos.zero, 8);
  EXPECT_EQ(QuantizeToCode(3.0f, pos, 15), 15);
  EXPECT_EQ(QuantizeToCode(1.0f, pos, 15), 13);
}

TEST(MinmaxQuantizer, GptqTwoThreeAndEightBits) {
  GroupQuant g2 = Gptq({-1.0f, 2.0f}, 2, false);  // scale 1, zero 1
  EXPECT_EQ(g2.scale, 1.0f);
  EXPECT_EQ(g2.zero, 1);
  EXPECT_EQ(QuantizeToCode(0.5f, g2, 3), 1);
  EXPECT_EQ(QuantizeToCode(1.5f, g2, 3), 3);
  EXPECT_EQ(QuantizeToCode(-1.0f, g2, 3), 0);
  GroupQuant g3 = Gptq({-2.0f, 5.0f}, 3, false);  // scale 1, zero 2
  EXPECT_EQ(g3.scale, 1.0f);
  EXPECT_EQ(g3.zero, 2);
  EXPECT_EQ(QuantizeToCode(3.5f, g3, 7), 6);
  EXPECT_EQ(QuantizeToCode(4.5f, g3, 7), 6);
  EXPECT_EQ(QuantizeToCode(5.0f, g3, 7), 7);
  GroupQuant g8 = Gptq({-25.5f, 102.0f}, 8, false);  // 127.5/255 = 0.5, zero 51
  EXPECT_EQ(g8.scale, 0.5f);
  EXPECT_EQ(g8.zero, 51);
  EXPECT_EQ(QuantizeToCode(102.0f, g8, 255), 255);
  EXPECT_EQ(QuantizeToCode(0.25f, g8, 255), 51);
  EXPECT_EQ(DequantizeCode(200, g8), 74.5f);
}

TEST(MinmaxQuantizer, AwqUsesTheTrueRangeAndClampsTheZero) {
  GroupQuant g = Awq({-1.5f, 6.0f, 0.0f}, 4);
  EXPECT_EQ(g.scale, 0.5f);
  EXPECT_EQ(g.zero, 3);
  // Zero tie: −round(−2.5) = 2.
  EXPECT_EQ(Awq({-1.25f, 6.25f}, 4).zero, 2);
  // All positive: the range is [1, 4] (not [0, 4]); −round(1/0.2) = −5 → 0.
  GroupQuant pos = Awq({1.0f, 4.0f}, 4);
  EXPECT_EQ(pos.scale, 3.0f / 15.0f);
  EXPECT_EQ(pos.zero, 0);
  EXPECT_EQ(QuantizeToCode(4.0f, pos, 15), 15);
  // All negative: −round(−4/0.2) = 20 → 15.
  EXPECT_EQ(Awq({-4.0f, -1.0f}, 4).zero, 15);
  // Constant / all-zero group: range clamped at 1e-5.
  GroupQuant z = Awq({0.0f, 0.0f}, 4);
  EXPECT_EQ(z.scale, 1e-5f / 15.0f);
  EXPECT_EQ(z.zero, 0);
  EXPECT_EQ(DequantizeCode(QuantizeToCode(0.0f, z, 15), z), 0.0f);
  GroupQuant g3 = Awq({-2.0f, 5.0f}, 3);
  EXPECT_EQ(g3.scale, 1.0f);
  EXPECT_EQ(g3.zero, 2);
  GroupQuant g2 = Awq({-1.0f, 2.0f}, 2);
  EXPECT_EQ(g2.scale, 1.0f);
  EXPECT_EQ(g2.zero, 1);
  GroupQuant g8 = Awq({-25.5f, 102.0f}, 8);
  EXPECT_EQ(g8.scale, 0.5f);
  EXPECT_EQ(g8.zero, 51);
}

TEST(MinmaxQuantizer, NonFiniteInputsClampInsteadOfOverflowing) {
  GroupQuant g{0.5f, 3};
  EXPECT_EQ(QuantizeToCode(std::numeric_limits<float>::infinity(), g, 15), 15);
  EXPECT_EQ(QuantizeToCode(-std::numeric_limits<float>::infinity(), g, 15), 0);
  EXPECT_EQ(QuantizeToCode(std::numeric_limits<float>::quiet_NaN(), g, 15), 3);
  EXPECT_EQ(QuantizeToCode(3e38f, GroupQuant{1e-30f, 0}, 255), 255);
}

}  // namespace
}  // namespace gpt2q
