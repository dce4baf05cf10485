// Tests of report.html and the whole output folder, including an end-to-end
// check in headless Chromium that every figure loads without console errors.
#include "report/html_report.h"

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "fake_results.h"
#include "report/histogram.h"
#include "report/report.h"

namespace gpt2q {
namespace {

namespace fs = std::filesystem;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) ++n;
  return n;
}

std::string FreshDir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("gpt2q_html_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

Result<ReportFiles> WriteFakeReport(const std::string& dir) {
  std::vector<float> original, quantized;
  for (int i = 0; i < 5000; ++i) {
    original.push_back(std::sin(i * 0.7f) * 1.5f);
    quantized.push_back(std::round(original.back() * 4) / 4);
  }
  std::vector<HistogramData> hists;
  for (const char* m : {"absmax", "q4_0"}) {
    hists.push_back(MakeHistogram("gpt2-tiny", m, {original}, {quantized}, {}).value());
  }
  return WriteReport(dir, testing::FakeRun(), testing::FakeResults(), hists);
}

TEST(Html, Base64AndEscape) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode(std::string("\xff\x00\x80", 3)), "/wCA");
  EXPECT_EQ(HtmlEscape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
}

TEST(Html, ReportHasEveryMethodFigureAndSetting) {
  const std::string dir = FreshDir("content");
  auto files = WriteFakeReport(dir);
  ASSERT_TRUE(files.ok()) << files.message();
  // weights, 4 bar charts, sqnr, pareto.
  ASSERT_EQ(files->figures.size(), 7u);
  for (const auto& f : files->figures) {
    EXPECT_TRUE(fs::exists(f.png_path)) << f.png_path;
    EXPECT_TRUE(fs::exists(fs::path(dir) / f.svg_path)) << f.svg_path;
  }
  for (const char* name : {"results.json", "results.csv", "results.md", "samples.md", "report.html"}) {
    EXPECT_TRUE(fs::exists(fs::path(dir) / name)) << name;
  }
  const std::string html = ReadAll(files->report_html);
  EXPECT_EQ(Count(html, "<img "), files->figures.size());
  EXPECT_EQ(Count(html, "<img alt=\""), Count(html, "src=\"data:image/png;base64,"));
  for (const auto& r : testing::FakeResults()) {
    EXPECT_NE(html.find("<td>" + HtmlEscape(r.method) + "</td>"), std::string::npos) << r.method;
  }
  // Text is escaped, never raw.
  EXPECT_EQ(html.find("<b>sample</b>"), std::string::npos);
  EXPECT_NE(html.find("a &lt;b&gt;sample&lt;/b&gt;"), std::string::npos);
  EXPECT_NE(html.find("&lt;that&gt; is the &quot;question&quot; &amp; more."), std::string::npos);
  // Settings that reproduce the run.
  for (const char* s : {"gpt2q compare --quant nf4 --out out", "layer_norm_epsilon", "hist_bins",
                        "data/calib.txt", "gelu_new"}) {
    EXPECT_NE(html.find(s), std::string::npos) << s;
  }
  // Self-contained: nothing fetched from anywhere.
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("<script src"), std::string::npos);
}

TEST(Html, SpeedSectionHasEveryMethodAndItsRatiosToFp32) {
  const std::string dir = FreshDir("speed");
  auto files = WriteFakeReport(dir);
  ASSERT_TRUE(files.ok()) << files.message();
  const std::string html = ReadAll(files->report_html);
  const size_t begin = html.find("<table id=\"speed-table\">");
  ASSERT_NE(begin, std::string::npos);
  const std::string table = html.substr(begin, html.find("</table>", begin) - begin);
  const auto results = testing::FakeResults();
  EXPECT_EQ(Count(table, "<tr>"), results.size() + 1);
  for (const auto& r : results) EXPECT_NE(table.find(HtmlEscape(MethodLabel(r))), std::string::npos) << r.method;
  // Seed 2: prefill 1000 of fp32's 3000 in the same windows, decode 33.3 of fp32's 100.
  EXPECT_NE(table.find("<td class=\"num\">0.333×</td><td class=\"num\">33.333</td>"
                       "<td class=\"num\">0.333×</td>"),
            std::string::npos)
      << table;
}

TEST(Html, MissingFigureIsAnError) {
  auto html = RenderHtmlReport(testing::FakeRun(), testing::FakeResults(),
                               {{"x", "X", "", "/nonexistent/x.png", ""}});
  ASSERT_FALSE(html.ok());
  EXPECT_NE(html.message().find("/nonexistent/x.png"), std::string::npos);
}

// Runs `command`, returning its exit status; stdout and stderr go to files.
int RunShell(const std::string& command) {
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(Html, OpensInHeadlessChromium) {
  const char* kChromium = "/usr/bin/chromium";
  if (!fs::exists(kChromium)) GTEST_SKIP() << kChromium << " is not installed";
  const std::string dir = FreshDir("chromium");
  auto files = WriteFakeReport(dir);
  ASSERT_TRUE(files.ok()) << files.message();
  const std::string profile = dir + "/profile", shot = dir + "/screenshot.png";
  const std::string flags =
      std::string(kChromium) +
      " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run"
      " --disable-background-networking --disable-component-update --disable-sync"
      " --enable-logging=stderr --v=0 --window-size=1280,2000 --user-data-dir=";
  const std::string url = "file://" + fs::absolute(files->report_html).string();
  ASSERT_EQ(RunShell("timeout 120 " + flags + profile + "-dom --dump-dom " + url + " >" + dir +
                "/dom.html 2>" + dir + "/dom.log"),
            0)
      << ReadAll(dir + "/dom.log");
  const std::string dom = ReadAll(dir + "/dom.html");
  const std::string log = ReadAll(dir + "/dom.log");
  EXPECT_NE(dom.find("data-images-ok=\"yes\""), std::string::npos)
      << "images did not all load: "
      << dom.substr(0, 300) << "\nlog:\n" << log;
  EXPECT_NE(dom.find("data-images-loaded=\"7/7\""), std::string::npos);
  // Chromium logs page console messages and CSP violations as CONSOLE lines.
  EXPECT_EQ(log.find(":CONSOLE"), std::string::npos) << log;
  EXPECT_EQ(log.find("Content Security Policy"), std::string::npos) << log;

  ASSERT_EQ(RunShell("timeout 120 " + flags + profile + "-shot --screenshot=" + shot + " " + url +
                " >/dev/null 2>" + dir + "/shot.log"),
            0)
      << ReadAll(dir + "/shot.log");
  const std::string png = ReadAll(shot);
  ASSERT_GE(png.size(), 8u);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  std::error_code ec;  // the browser profiles are large; the report stays for inspection
  fs::remove_all(profile + "-dom", ec);
  fs::remove_all(profile + "-shot", ec);
}

}  // namespace
}  // namespace gpt2q
