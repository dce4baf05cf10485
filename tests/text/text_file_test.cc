// UTF-8 validation and ReadTextFile.
#include "text/text_file.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace gpt2q {
namespace {

TEST(TextFileTest, ValidatesUtf8) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ASCII text, long enough for the 8-byte path"));
  EXPECT_TRUE(IsValidUtf8("na\xC3\xAFve \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF"));
  EXPECT_EQ(FindInvalidUtf8("abc\xFF"), 3u);
  EXPECT_EQ(FindInvalidUtf8("abcdefghij\xC3"), 10u);               // truncated
  EXPECT_EQ(FindInvalidUtf8("\xC0\xAF"), 0u);                      // overlong
  EXPECT_EQ(FindInvalidUtf8("\xE0\x80\xAF"), 0u);                  // overlong
  EXPECT_EQ(FindInvalidUtf8("ok \xED\xA0\x80"), 3u);               // surrogate
  EXPECT_EQ(FindInvalidUtf8("\xF4\x90\x80\x80"), 0u);              // above U+10FFFF
  EXPECT_EQ(FindInvalidUtf8("\xE6\x97x"), 0u);                     // bad continuation
  EXPECT_EQ(FindInvalidUtf8("\x80"), 0u);                          // lone continuation
}

TEST(TextFileTest, ReadsFilesAndNamesBadByteOffset) {
  const std::string path = ::testing::TempDir() + "/text_file_test.txt";
  std::ofstream(path, std::ios::binary) << "hello \xC3\xA9t\xC3\xA9\n";
  auto text = ReadTextFile(path);
  ASSERT_TRUE(text.ok()) << text.message();
  EXPECT_EQ(text.value(), "hello \xC3\xA9t\xC3\xA9\n");
  std::ofstream(path, std::ios::binary) << "hello \xC3(";
  text = ReadTextFile(path);
  ASSERT_FALSE(text.ok());
  EXPECT_NE(text.message().find(path), std::string::npos) << text.message();
  EXPECT_NE(text.message().find("byte offset 6"), std::string::npos) << text.message();
  std::remove(path.c_str());
}

TEST(TextFileTest, NamesMissingAndUnreadableFiles) {
  auto text = ReadTextFile("/nonexistent/corpus.txt");
  ASSERT_FALSE(text.ok());
  EXPECT_NE(text.message().find("/nonexistent/corpus.txt"), std::string::npos);
  EXPECT_FALSE(ReadTextFile(::testing::TempDir()).ok());  // a directory
}

TEST(TextFileTest, ReadsShippedHeldOutText) {
  auto text = ReadTextFile(GPT2Q_DATA_DIR "/tinyshakespeare-heldout.txt");
  ASSERT_TRUE(text.ok()) << text.message();
  EXPECT_EQ(text.value().size(), 111606u);
}

}  // namespace
}  // namespace gpt2q
