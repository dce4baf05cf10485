// Calibration windows: the spec's evenly spaced starts against the reference
// file's settings, the shipped calibration text, and bad input.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "../text/sha256.h"
#include "calib/windows.h"
#include "text/text_file.h"
#include "text/tokenizer.h"

namespace gpt2q {
namespace {

const std::string kFixture = std::string(GPT2Q_SHARED_DIR) + "/fixtures/gpt2-tiny-shakespeare";

nlohmann::json CalibSettings() {
  std::ifstream in(kFixture + "/reference_calib.json");
  return nlohmann::json::parse(in)["settings"]["calibration"];
}

std::string Sha256OfIds(const std::vector<int32_t>& ids) {
  std::string bytes(ids.size() * 4, '\0');
  for (size_t i = 0; i < ids.size(); ++i) {
    const uint32_t v = static_cast<uint32_t>(ids[i]);
    for (int k = 0; k < 4; ++k) bytes[4 * i + k] = static_cast<char>((v >> (8 * k)) & 0xff);
  }
  return testing::Sha256Hex(bytes);
}

TEST(CalibrationWindowsTest, StartsMatchReference) {
  const nlohmann::json c = CalibSettings();
  const int64_t t = c["tokens_T"], len = c["window_len_L"], n = c["windows_n"];
  ASSERT_EQ(t, 30645);
  const std::vector<int64_t> expected = c["window_starts"].get<std::vector<int64_t>>();
  EXPECT_EQ(CalibrationWindowStarts(t, len, n), expected);
}

TEST(CalibrationWindowsTest, ShippedTextTokenizesAsReference) {
  const nlohmann::json c = CalibSettings();
  auto shipped = ReadTextFile(std::string(GPT2Q_DATA_DIR) + "/tinyshakespeare-calib.txt");
  ASSERT_TRUE(shipped.ok()) << shipped.message();
  auto corpus = ReadTextFile(std::string(GPT2Q_SHARED_DIR) + "/corpora/tinyshakespeare.txt");
  ASSERT_TRUE(corpus.ok()) << corpus.message();
  // The corpus is ASCII: its first 100,000 characters are its first 100,000 bytes.
  EXPECT_EQ(*shipped, corpus->substr(0, 100000));

  auto tokenizer = Tokenizer::Load(kFixture + "/vocab.json", kFixture + "/merges.txt");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.message();
  const std::vector<int32_t> ids = tokenizer->Encode(*shipped);
  EXPECT_EQ(static_cast<int64_t>(ids.size()), c["tokens_T"].get<int64_t>());
  EXPECT_EQ(Sha256OfIds(ids), c["ids_sha256"].get<std::string>());

  auto windows = MakeCalibrationWindows(ids, c["windows_n"], c["window_len_L"], 256, "calib.txt");
  ASSERT_TRUE(windows.ok()) << windows.message();
  EXPECT_EQ(windows->rows(), c["tokens_total"].get<int64_t>());
  EXPECT_EQ(windows->text_tokens, 30645);
  const int64_t last = windows->n - 1;
  EXPECT_EQ(windows->starts[last], 30645 - 256);
  EXPECT_EQ(std::memcmp(windows->window(last), ids.data() + windows->starts[last], 256 * 4), 0);
}

TEST(CalibrationWindowsTest, EdgeCases) {
  EXPECT_EQ(CalibrationWindowStarts(10, 4, 1), std::vector<int64_t>({0}));
  EXPECT_EQ(CalibrationWindowStarts(10, 4, 2), std::vector<int64_t>({0, 6}));
  EXPECT_EQ(CalibrationWindowStarts(10, 4, 4), std::vector<int64_t>({0, 2, 4, 6}));
  EXPECT_EQ(CalibrationWindowStarts(4, 4, 3), std::vector<int64_t>({0, 0, 0}));  // T = L: every window is the text
  // More windows than positions: windows repeat, in order.
  EXPECT_EQ(CalibrationWindowStarts(6, 4, 4), std::vector<int64_t>({0, 0, 1, 2}));
}

TEST(CalibrationWindowsTest, RejectsBadInput) {
  const std::vector<int32_t> ids(100, 7);
  auto zero = MakeCalibrationWindows(ids, 0, 10, 256, "c.txt");
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.message().find("c.txt"), std::string::npos);
  EXPECT_NE(zero.message().find("--calib-samples"), std::string::npos);
  auto short_text = MakeCalibrationWindows(ids, 4, 101, 256, "c.txt");
  ASSERT_FALSE(short_text.ok());
  EXPECT_NE(short_text.message().find("100 tokens"), std::string::npos) << short_text.message();
  EXPECT_NE(short_text.message().find("101"), std::string::npos);
  EXPECT_FALSE(MakeCalibrationWindows(ids, 4, 0, 256, "c.txt").ok());
  EXPECT_FALSE(MakeCalibrationWindows(ids, 4, 64, 32, "c.txt").ok());  // longer than n_ctx
  EXPECT_FALSE(MakeCalibrationWindows({}, 1, 1, 32, "c.txt").ok());
  EXPECT_FALSE(MakeCalibrationWindows(ids, int64_t{1} << 40, 64, 256, "c.txt").ok());
  auto ok = MakeCalibrationWindows(ids, 1, 100, 256, "c.txt");
  ASSERT_TRUE(ok.ok()) << ok.message();
  EXPECT_EQ(ok->starts, std::vector<int64_t>({0}));
}

}  // namespace
}  // namespace gpt2q
