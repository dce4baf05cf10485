// Tests of the weight-histogram counts.
#include "report/histogram.h"

#include <cmath>
#include <random>

#include <gtest/gtest.h>

namespace gpt2q {
namespace {

TEST(Histogram, CountsSumToInRangeValues) {
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.2f);
  std::vector<float> values(10001);
  for (float& v : values) v = dist(rng);
  values.push_back(NAN);
  values.push_back(2.0f);   // hi itself is counted, in the last bin
  values.push_back(-2.0f);  // lo too, in the first
  HistogramOptions options;  // [-2, 2], 180 bins
  int64_t in_range = 0;
  for (float v : values) in_range += (v >= -2.0f && v <= 2.0f);
  std::vector<int64_t> counts(options.bins, 0);
  const int64_t counted = AccumulateHistogram(values, options, counts);
  EXPECT_EQ(counted, in_range);
  int64_t sum = 0;
  for (int64_t c : counts) sum += c;
  EXPECT_EQ(sum, in_range);
  EXPECT_LT(in_range, static_cast<int64_t>(values.size()));  // some fell outside
  EXPECT_GE(counts.back(), 1);
  EXPECT_GE(counts.front(), 1);
}

TEST(Histogram, BinsAreRightOpen) {
  HistogramOptions options{0.0, 4.0, 4};
  std::vector<int64_t> counts(4, 0);
  const std::vector<float> values = {0.0f, 0.99f, 1.0f, 2.5f, 3.0f, 4.0f, 4.01f, -0.01f};
  EXPECT_EQ(AccumulateHistogram(values, options, counts), 6);
  EXPECT_EQ(counts, (std::vector<int64_t>{2, 1, 1, 2}));
  const auto edges = HistogramEdges(options);
  EXPECT_EQ(edges, (std::vector<double>{0, 1, 2, 3, 4}));
}

TEST(Histogram, MakeHistogramOverPieces) {
  const std::vector<float> a = {-1.0f, 0.0f, 5.0f}, b = {0.5f}, q = {-1.0f, 0.0f, 0.0f, 0.5f};
  auto h = MakeHistogram("gpt2", "nf4", {a, b}, {q}, {-2, 2, 160});
  ASSERT_TRUE(h.ok()) << h.message();
  EXPECT_EQ(h->original_total, 4);
  EXPECT_EQ(h->original_plotted, 3);
  EXPECT_EQ(h->quantized_plotted, 4);
  EXPECT_EQ(h->bin_edges.size(), 161u);
  EXPECT_EQ(h->original_counts.size(), 160u);
}

TEST(Histogram, RejectsBadOptions) {
  EXPECT_FALSE(MakeHistogram("m", "x", {}, {}, {-2, 2, 0}).ok());
  EXPECT_FALSE(MakeHistogram("m", "x", {}, {}, {2, -2, 100}).ok());
  EXPECT_FALSE(MakeHistogram("m", "x", {}, {}, {-INFINITY, 2, 100}).ok());
}

}  // namespace
}  // namespace gpt2q
