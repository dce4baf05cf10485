// Tests of the cairo figures: valid PNG/SVG files of the right size, determinism,
// tick and suffix formatting, the Pareto front.
#include <cairo.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "fake_results.h"
#include "report/charts.h"
#include "report/histogram.h"
#include "report/plot_canvas.h"

namespace gpt2q {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string TempStem(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("gpt2q_plot_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

// Checks the PNG signature and that cairo reads it back at width × height.
void ExpectPng(const std::string& path, int width, int height) {
  const std::string bytes = ReadAll(path);
  ASSERT_GE(bytes.size(), 8u) << path;
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << path;
  cairo_surface_t* s = cairo_image_surface_create_from_png(path.c_str());
  ASSERT_EQ(cairo_surface_status(s), CAIRO_STATUS_SUCCESS) << path;
  if (width > 0) {
    EXPECT_EQ(cairo_image_surface_get_width(s), width);
  }
  if (height > 0) {
    EXPECT_EQ(cairo_image_surface_get_height(s), height);
  }
  // Not blank: some pixel differs from the white background.
  cairo_surface_flush(s);
  const unsigned char* data = cairo_image_surface_get_data(s);
  const int stride = cairo_image_surface_get_stride(s);
  bool drawn = false;
  for (int y = 0; y < cairo_image_surface_get_height(s) && !drawn; ++y) {
    const uint32_t* row = reinterpret_cast<const uint32_t*>(data + y * stride);
    for (int x = 0; x < cairo_image_surface_get_width(s); ++x) drawn |= row[x] != 0xFFFFFFFFu;
  }
  EXPECT_TRUE(drawn) << path;
  cairo_surface_destroy(s);
}

void ExpectSvg(const std::string& path) {
  const std::string text = ReadAll(path);
  EXPECT_EQ(text.rfind("<?xml", 0), 0u) << path;
  EXPECT_NE(text.find("<svg"), std::string::npos) << path;
  EXPECT_NE(text.find("</svg>"), std::string::npos) << path;
}

std::vector<HistogramData> FakeHistograms() {
  std::vector<float> original, quantized;
  for (int i = 0; i < 20000; ++i) {
    const float v = std::sin(i * 0.37f) * std::exp(-(i % 97) / 40.0f);
    original.push_back(v);
    quantized.push_back(std::round(v * 8) / 8);
  }
  std::vector<HistogramData> out;
  for (const char* m : {"absmax", "zeropoint", "nf4"}) {
    out.push_back(MakeHistogram("gpt2", m, {original}, {quantized}, {}).value());
  }
  return out;
}

TEST(Plot, HistogramGridPngAndSvg) {
  const std::string stem = TempStem("hist");
  HistogramPlotOptions options;
  options.columns = 2;
  ASSERT_TRUE(PlotHistogramGrid(FakeHistograms(), stem, options).ok());
  ExpectPng(stem + ".png", 2 * options.panel_width, 2 * options.panel_height);
  ExpectSvg(stem + ".svg");
}

TEST(Plot, OutputIsDeterministic) {
  const std::string a = TempStem("det_a"), b = TempStem("det_b");
  ASSERT_TRUE(PlotHistogramGrid(FakeHistograms(), a, {}).ok());
  ASSERT_TRUE(PlotHistogramGrid(FakeHistograms(), b, {}).ok());
  EXPECT_EQ(ReadAll(a + ".png"), ReadAll(b + ".png"));
  ASSERT_TRUE(PlotPareto(testing::FakeResults(), a).ok());
  ASSERT_TRUE(PlotPareto(testing::FakeResults(), b).ok());
  EXPECT_EQ(ReadAll(a + ".png"), ReadAll(b + ".png"));
}

TEST(Plot, BarChartsSqnrAndPareto) {
  const auto results = testing::FakeResults();
  for (BarMetric m : {BarMetric::kPpl, BarMetric::kKld, BarMetric::kBytes,
                      BarMetric::kTokensPerSecond}) {
    const std::string stem = TempStem("bars_" + BarMetricName(m));
    ASSERT_TRUE(PlotBarChart(results, m, stem).ok());
    ExpectPng(stem + ".png", 960, 0);
    ExpectSvg(stem + ".svg");
  }
  const std::string sqnr = TempStem("sqnr");
  ASSERT_TRUE(PlotSqnrPerTensor(results, sqnr).ok());
  ExpectPng(sqnr + ".png", 0, 0);
  ExpectSvg(sqnr + ".svg");
  const std::string pareto = TempStem("pareto");
  ASSERT_TRUE(PlotPareto(results, pareto).ok());
  ExpectPng(pareto + ".png", 960, 600);
  ExpectSvg(pareto + ".svg");
}

TEST(Plot, FailsWithoutData) {
  std::vector<MethodResult> empty_metrics(1);
  EXPECT_FALSE(PlotBarChart(empty_metrics, BarMetric::kPpl, TempStem("none")).ok());
  EXPECT_FALSE(PlotSqnrPerTensor(empty_metrics, TempStem("none")).ok());
  EXPECT_FALSE(PlotPareto(empty_metrics, TempStem("none")).ok());
  EXPECT_FALSE(PlotHistogramGrid({}, TempStem("none"), {}).ok());
  HistogramData broken;
  broken.bin_edges = {0, 1};
  broken.original_counts = {1, 2};
  broken.quantized_counts = {1, 2};
  EXPECT_FALSE(PlotHistogramGrid({broken}, TempStem("none"), {}).ok());
  auto unwritable = PlotPareto(testing::FakeResults(), "/nonexistent-dir/x");
  ASSERT_FALSE(unwritable.ok());
  EXPECT_NE(unwritable.message().find("/nonexistent-dir/x.png"), std::string::npos);
}

TEST(Plot, ParetoFront) {
  auto results = testing::FakeResults();  // bytes/ppl: 1e6/10, 2.6e5/10.2, 1.5e5/10.9, 3e5/11.5
  const auto front = ParetoFront(results);
  EXPECT_EQ(front, (std::vector<size_t>{2, 1, 0}));  // zeropoint is dominated by absmax
  results[2].ppl = kNotMeasured;
  EXPECT_EQ(ParetoFront(results), (std::vector<size_t>{1, 0}));
}

TEST(Plot, CountSuffixAndTicks) {
  EXPECT_EQ(FormatCount(0), "0");
  EXPECT_EQ(FormatCount(950), "950");
  EXPECT_EQ(FormatCount(2500), "2.5K");
  EXPECT_EQ(FormatCount(17500000), "17.5M");
  EXPECT_EQ(FormatCount(2e6), "2M");
  EXPECT_EQ(FormatCount(3.25e9), "3.25G");
  EXPECT_EQ(NiceTicks(-2, 2, 8), (std::vector<double>{-2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2}));
  EXPECT_EQ(FormatTick(-0.5, 0.5), "-0.5");
  EXPECT_EQ(FormatTick(0.25, 0.25), "0.25");
  EXPECT_EQ(FormatTick(2, 0.5), "2.0");
  EXPECT_DOUBLE_EQ(NiceCeil(17.3e6), 20e6);
  EXPECT_DOUBLE_EQ(NiceCeil(0), 1);
}

}  // namespace
}  // namespace gpt2q
