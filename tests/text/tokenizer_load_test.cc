// Tokenizer loading: every malformed vocab.json / merges.txt gives an error
// that names the file, the line or token, and the problem.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "../io/bad_inputs.h"
#include "text/byte_unicode.h"
#include "text/tokenizer.h"

namespace gpt2q {
namespace {

// A minimal valid byte-level vocabulary: the 256 byte tokens (ids 0..255),
// then "ab", "abc", "Ġa" and "<|endoftext|>". `extra` adds raw JSON members.
std::string SmallVocab(const std::string& extra = "") {
  std::string json = "{";
  for (int b = 0; b < 256; ++b) {
    std::string spelling = ByteToVocabSpelling(static_cast<uint8_t>(b));
    if (spelling == "\"" || spelling == "\\") spelling = "\\" + spelling;
    json += "\"" + spelling + "\": " + std::to_string(b) + ", ";
  }
  json += "\"ab\": 256, \"abc\": 257, \"\xC4\xA0" "a\": 258, \"<|endoftext|>\": 259" + extra + "}";
  return json;
}

const char kSmallMerges[] = "#version: 0.2\na b\nab c\n\xC4\xA0 a\n";

// Returns the error of loading (vocab, merges) from strings.
std::string LoadError(const std::string& vocab, const std::string& merges) {
  auto loaded = Tokenizer::FromStrings(vocab, merges, "v.json", "m.txt");
  return loaded.ok() ? std::string("<loaded>") : loaded.message();
}

void ExpectErrorHas(const std::string& error, std::initializer_list<const char*> parts) {
  for (const char* part : parts) {
    EXPECT_NE(error.find(part), std::string::npos) << "missing '" << part << "' in: " << error;
  }
}

TEST(TokenizerLoadTest, SmallVocabularyLoadsAndEncodes) {
  auto loaded = Tokenizer::FromStrings(SmallVocab(), kSmallMerges);
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  const Tokenizer& t = loaded.value();
  EXPECT_EQ(t.vocab_size(), 260);
  EXPECT_EQ(t.eot_id(), 259);
  EXPECT_EQ(t.Encode("abc ab a"), (std::vector<int32_t>{257, ' ', 256, 258}));
  EXPECT_EQ(t.TokenText(258), " a");
}

TEST(TokenizerLoadTest, RejectsBadJson) {
  ExpectErrorHas(LoadError("{\"a\": 1,", kSmallMerges), {"v.json", "invalid JSON", "line 1"});
  ExpectErrorHas(LoadError("{\n\"a\": 1\n\"b\": 2}", kSmallMerges), {"v.json", "line 3"});
  ExpectErrorHas(LoadError("7", kSmallMerges), {"v.json", "expected a JSON object"});
  ExpectErrorHas(LoadError("[1, 2]", kSmallMerges), {"v.json", "expected a JSON object"});
  ExpectErrorHas(LoadError("{}", kSmallMerges), {"v.json", "empty"});
  ExpectErrorHas(LoadError("{\"a\": \"\xFF\"}", kSmallMerges), {"v.json", "invalid JSON"});
}

TEST(TokenizerLoadTest, RejectsNonIntegerIds) {
  ExpectErrorHas(LoadError(SmallVocab(", \"xy\": 1.5"), kSmallMerges),
                 {"v.json", "'xy'", "non-integer 1.5"});
  ExpectErrorHas(LoadError(SmallVocab(", \"xy\": \"7\""), kSmallMerges),
                 {"v.json", "'xy'", "a string"});
  ExpectErrorHas(LoadError(SmallVocab(", \"xy\": {\"z\": 1}"), kSmallMerges),
                 {"v.json", "'xy'", "an object"});
}

TEST(TokenizerLoadTest, RejectsDuplicateAndOutOfRangeIds) {
  ExpectErrorHas(LoadError(SmallVocab(", \"xy\": 256"), kSmallMerges),
                 {"v.json", "'ab'", "'xy'", "share id 256"});
  ExpectErrorHas(LoadError(SmallVocab(", \"xy\": 261"), kSmallMerges),
                 {"v.json", "'xy'", "id 261", "outside [0, 261)"});
  ExpectErrorHas(LoadError(SmallVocab(", \"xy\": -1"), kSmallMerges), {"'xy'", "id -1"});
  ExpectErrorHas(LoadError(SmallVocab(", \"ab\": 260"), kSmallMerges),
                 {"v.json", "'ab'", "appears twice"});
}

TEST(TokenizerLoadTest, RejectsTokensOutsideByteAlphabet) {
  ExpectErrorHas(LoadError(SmallVocab(", \"\xE2\x82\xAC\": 260"), kSmallMerges),
                 {"v.json", "id 260", "U+20AC", "byte alphabet"});
  ExpectErrorHas(LoadError(SmallVocab(", \"a b\": 260"), kSmallMerges), {"U+0020"});
}

TEST(TokenizerLoadTest, RequiresByteTokensAndEndOfText) {
  std::string vocab = SmallVocab();
  const size_t pos = vocab.find("\"A\": 65, ");
  ASSERT_NE(pos, std::string::npos);
  vocab.replace(pos, 9, "\"AA\": 65, ");
  ExpectErrorHas(LoadError(vocab, kSmallMerges), {"v.json", "no token for byte 0x41"});
  vocab = SmallVocab();
  vocab.replace(vocab.find("<|endoftext|>"), 13, "<|endoftext|]");
  ExpectErrorHas(LoadError(vocab, kSmallMerges), {"v.json", "<|endoftext|>"});
}

TEST(TokenizerLoadTest, RejectsBadMergeLines) {
  ExpectErrorHas(LoadError(SmallVocab(), "#version: 0.2\na b\nab\n"),
                 {"m.txt line 3", "expected two symbols", "got 1"});
  ExpectErrorHas(LoadError(SmallVocab(), "#version: 0.2\na b c\n"),
                 {"m.txt line 2", "got 3"});
  ExpectErrorHas(LoadError(SmallVocab(), "#version: 0.2\na b\nab zz\n"),
                 {"m.txt line 3", "symbol 'zz' is not in v.json"});
  ExpectErrorHas(LoadError(SmallVocab(), "#version: 0.2\na c\n"),
                 {"m.txt line 2", "'ac'", "not in v.json"});
  ExpectErrorHas(LoadError(SmallVocab(), "#version: 0.2\na b\n\nab c\na b\n"),
                 {"m.txt line 5", "repeats line 2"});
}

TEST(TokenizerLoadTest, AcceptsBlankLinesCrLfAndNoVersionLine) {
  auto loaded = Tokenizer::FromStrings(SmallVocab(), "a b\r\n\r\nab c\r\n\xC4\xA0 a\r\n");
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  EXPECT_EQ(loaded->Encode("abc"), std::vector<int32_t>{257});
}

// vocab.json and merges.txt must describe one vocabulary: 256 byte tokens +
// one token per merge + special tokens.
TEST(TokenizerLoadTest, RejectsVocabularyAndMergesThatDisagree) {
  // Empty, and cut at a line boundary: tokens that no merge makes.
  ExpectErrorHas(LoadError(SmallVocab(), ""),
                 {"m.txt has 0 merges but v.json has 260 tokens (expected 3 merges",
                  "m.txt looks empty", "no merge makes token 'ab' (id 256)"});
  ExpectErrorHas(LoadError(SmallVocab(), "#version: 0.2\n"), {"m.txt has 0 merges", "looks empty"});
  ExpectErrorHas(LoadError(SmallVocab(), "#version: 0.2\na b\nab c\n"),
                 {"m.txt has 2 merges but v.json has 260 tokens (expected 3 merges",
                  "m.txt looks truncated", "no merge makes token '\xC4\xA0" "a' (id 258)"});
  // A token of the vocabulary that no merge makes, whatever its place.
  ExpectErrorHas(LoadError(SmallVocab(", \"zz\": 260"), kSmallMerges),
                 {"m.txt has 3 merges but v.json has 261 tokens (expected 4 merges",
                  "no merge makes token 'zz' (id 260)"});
  // A merge whose result is missing from the vocabulary names vocab.json.
  std::string vocab = SmallVocab();
  vocab.replace(vocab.find("\"abc\": 257"), 5, "\"xyz\"");
  ExpectErrorHas(LoadError(vocab, kSmallMerges),
                 {"m.txt line 3", "'abc', is not in v.json", "v.json looks incomplete"});
  // Two merges that make one token: a token from two rules cannot be.
  ExpectErrorHas(LoadError(SmallVocab(", \"bc\": 260"), "a b\nab c\n\xC4\xA0 a\nb c\na bc\n"),
                 {"m.txt line 5", "makes 'abc', which line 2 already makes"});
  // Special tokens "<|...|>" need no merge; the counts include them.
  auto loaded = Tokenizer::FromStrings(SmallVocab(", \"<|pad|>\": 260"), kSmallMerges);
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  EXPECT_EQ(loaded->vocab_size(), 261);
}

// The folders of tests/io/bad_inputs.h whose tokenizer files disagree, with
// GPT-2's real vocabulary: each fails with its message.
TEST(TokenizerLoadTest, EveryBadTokenizerFolderFailsWithItsMessage) {
  for (const testing::BadInput& bad : testing::BadTokenizerInputs()) {
    SCOPED_TRACE(bad.name);
    const std::string dir = testing::MakeTempDir("tok_" + bad.name);
    const std::string fragment = bad.write(dir);
    auto loaded = Tokenizer::Load(dir + "/vocab.json", dir + "/merges.txt");
    ASSERT_FALSE(loaded.ok());
    EXPECT_NE(loaded.message().find(fragment), std::string::npos) << loaded.message();
  }
  const std::string dir = testing::MakeTempDir("tok_cut");
  testing::BadTokenizerInputs()[1].write(dir);  // truncated_merges
  auto loaded = Tokenizer::Load(dir + "/vocab.json", dir + "/merges.txt");
  ASSERT_FALSE(loaded.ok());
  ExpectErrorHas(loaded.message(),
                 {"merges.txt has 12,000 merges but", "vocab.json has 50,257 tokens (expected "
                  "50,000 merges: 256 byte tokens + merges + 1 special)", "merges.txt looks truncated"});
}

TEST(TokenizerLoadTest, NamesMissingFiles) {
  auto loaded = Tokenizer::Load("/nonexistent/vocab.json", "/nonexistent/merges.txt");
  ASSERT_FALSE(loaded.ok());
  ExpectErrorHas(loaded.message(), {"/nonexistent/vocab.json", "cannot open"});
}

TEST(TokenizerLoadTest, LoadsFromFilesAndNamesThemInErrors) {
  const std::string dir = ::testing::TempDir();
  const std::string vocab_path = dir + "/text_test_vocab.json";
  const std::string merges_path = dir + "/text_test_merges.txt";
  std::ofstream(vocab_path) << SmallVocab();
  std::ofstream(merges_path) << "#version: 0.2\na b\nq\n";
  auto loaded = Tokenizer::Load(vocab_path, merges_path);
  ASSERT_FALSE(loaded.ok());
  ExpectErrorHas(loaded.message(), {merges_path.c_str(), "line 3"});
  std::ofstream(merges_path) << kSmallMerges;
  loaded = Tokenizer::Load(vocab_path, merges_path);
  EXPECT_TRUE(loaded.ok()) << loaded.message();
  std::remove(vocab_path.c_str());
  std::remove(merges_path.c_str());
}

}  // namespace
}  // namespace gpt2q
