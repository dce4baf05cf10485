// Tokenizer tests: the fixture's reference.json cases, the held-out text's
// token hash, special tokens, round trips and invalid UTF-8.
#include "text/tokenizer.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "sha256.h"
#include "text/text_file.h"

namespace gpt2q {
namespace {

const std::string kModelDir = GPT2Q_DATA_DIR "/gpt2-tiny-shakespeare";

// Loads the fixture's tokenizer once for the whole suite.
const Tokenizer& Gpt2Tokenizer() {
  static const Tokenizer* tokenizer = [] {
    auto loaded = Tokenizer::Load(kModelDir + "/vocab.json", kModelDir + "/merges.txt");
    if (!loaded.ok()) {
      ADD_FAILURE() << loaded.message();
      std::abort();
    }
    return new Tokenizer(std::move(loaded).value());
  }();
  return *tokenizer;
}

const nlohmann::json& Reference() {
  static const nlohmann::json* reference = [] {
    auto text = ReadTextFile(kModelDir + "/reference.json");
    if (!text.ok()) std::abort();
    return new nlohmann::json(nlohmann::json::parse(text.value()));
  }();
  return *reference;
}

std::string Decoded(const Tokenizer& tokenizer, const std::vector<int32_t>& ids) {
  auto text = tokenizer.Decode(ids);
  EXPECT_TRUE(text.ok()) << text.message();
  return text.ok() ? text.value() : std::string();
}

TEST(TokenizerTest, LoadsGpt2Vocabulary) {
  const Tokenizer& t = Gpt2Tokenizer();
  EXPECT_EQ(t.vocab_size(), 50257);
  EXPECT_EQ(t.eot_id(), 50256);
  EXPECT_EQ(t.TokenText(50256), "<|endoftext|>");
  EXPECT_EQ(t.TokenText(262), " the");  // "Ġthe"
  EXPECT_EQ(t.TokenText(198), "\n");    // "Ċ"
  EXPECT_EQ(t.TokenText(-1), "");
  EXPECT_EQ(t.TokenText(50257), "");
}

TEST(TokenizerTest, MatchesEveryReferenceCase) {
  const Tokenizer& t = Gpt2Tokenizer();
  const auto& cases = Reference().at("tokenizer_cases");
  ASSERT_GE(cases.size(), 30u);
  for (const auto& c : cases) {
    const std::string text = c.at("text");
    const std::vector<int32_t> expected = c.at("ids");
    EXPECT_EQ(t.Encode(text), expected) << "text: " << text;
    EXPECT_EQ(Decoded(t, expected), text);
  }
}

TEST(TokenizerTest, MatchesPythonReferenceOnEdgeAndRandomUnicode) {
  const std::vector<std::pair<std::string, std::vector<int32_t>>> cases = {
#include "extra_cases.inc"
  };
  const Tokenizer& t = Gpt2Tokenizer();
  for (const auto& [text, ids] : cases) {
    EXPECT_EQ(t.Encode(text), ids) << "text: " << text;
    EXPECT_EQ(Decoded(t, ids), text);
  }
}

TEST(TokenizerTest, HeldOutTextMatchesReferenceTokenHash) {
  auto text = ReadTextFile(GPT2Q_DATA_DIR "/tinyshakespeare-heldout.txt");
  ASSERT_TRUE(text.ok()) << text.message();
  const Tokenizer& t = Gpt2Tokenizer();
  const std::vector<int32_t> ids = t.Encode(text.value());
  EXPECT_EQ(static_cast<int64_t>(ids.size()), Reference().at("eval_tokens").get<int64_t>());
  std::string bytes;
  for (int32_t id : ids) {
    const auto u = static_cast<uint32_t>(id);
    for (int k = 0; k < 4; ++k) bytes.push_back(static_cast<char>(u >> (8 * k)));  // little-endian
  }
  EXPECT_EQ(testing::Sha256Hex(bytes), Reference().at("eval_ids_sha256").get<std::string>());
  EXPECT_EQ(Decoded(t, ids), text.value());
  // A second pass is served from the warm cache and must agree.
  EXPECT_EQ(t.Encode(text.value()), ids);
}

TEST(TokenizerTest, Sha256MatchesKnownDigests) {
  EXPECT_EQ(testing::Sha256Hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(testing::Sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(TokenizerTest, GreedyPromptAndText) {
  const Tokenizer& t = Gpt2Tokenizer();
  const auto& greedy = Reference().at("greedy");
  EXPECT_EQ(t.Encode(greedy.at("prompt").get<std::string>()),
            greedy.at("prompt_ids").get<std::vector<int32_t>>());
  EXPECT_EQ(Decoded(t, greedy.at("ids").get<std::vector<int32_t>>()),
            greedy.at("text").get<std::string>());
}

TEST(TokenizerTest, SpecialTokens) {
  const Tokenizer& t = Gpt2Tokenizer();
  EXPECT_EQ(t.EncodeWithSpecialTokens("<|endoftext|>"), std::vector<int32_t>{50256});
  EXPECT_EQ(t.Encode("<|endoftext|>"), (std::vector<int32_t>{27, 91, 437, 1659, 5239, 91, 29}));
  std::vector<int32_t> expected = t.Encode("Hello");
  expected.push_back(50256);
  expected.push_back(50256);
  for (int32_t id : t.Encode(" world")) expected.push_back(id);
  expected.push_back(50256);
  EXPECT_EQ(t.EncodeWithSpecialTokens("Hello<|endoftext|><|endoftext|> world<|endoftext|>"),
            expected);
  EXPECT_EQ(t.EncodeWithSpecialTokens("<|endoftext|"), t.Encode("<|endoftext|"));
  EXPECT_EQ(Decoded(t, {15496, 50256, 995}), "Hello<|endoftext|> world");
}

TEST(TokenizerTest, DecodeRejectsOutOfRangeIds) {
  const Tokenizer& t = Gpt2Tokenizer();
  const std::vector<int32_t> ids = {15496, 50257};
  auto text = t.Decode(ids);
  ASSERT_FALSE(text.ok());
  EXPECT_NE(text.message().find("50257"), std::string::npos) << text.message();
  EXPECT_NE(text.message().find("position 1"), std::string::npos) << text.message();
  const std::vector<int32_t> negative = {-3};
  EXPECT_FALSE(t.Decode(negative).ok());
}

// Returns a random valid UTF-8 string mixing ASCII, whitespace, Latin, CJK
// and emoji.
std::string RandomUtf8(std::mt19937& rng, int length) {
  static const std::pair<uint32_t, uint32_t> kRanges[] = {
      {0x20, 0x7E}, {0x09, 0x0D}, {0xA0, 0x24F}, {0x370, 0x4FF}, {0x2000, 0x206F},
      {0x3000, 0x30FF}, {0x4E00, 0x9FFF}, {0xAC00, 0xD7A3}, {0x1F300, 0x1F6FF}, {0x10000, 0x10FFFF}};
  std::string s;
  for (int i = 0; i < length; ++i) {
    const auto& [lo, hi] = kRanges[rng() % std::size(kRanges)];
    uint32_t cp = lo + rng() % (hi - lo + 1);
    if (cp >= 0xD800 && cp <= 0xDFFF) cp = 'x';
    if (cp < 0x80) {
      s.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      s.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      s.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      s.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  return s;
}

TEST(TokenizerTest, RoundTripsRandomValidUtf8) {
  const Tokenizer& t = Gpt2Tokenizer();
  std::mt19937 rng(20240607);
  for (int i = 0; i < 500; ++i) {
    const std::string text = RandomUtf8(rng, 1 + static_cast<int>(rng() % 60));
    ASSERT_TRUE(IsValidUtf8(text));
    EXPECT_EQ(Decoded(t, t.Encode(text)), text);
  }
}

TEST(TokenizerTest, InvalidUtf8EncodesLosslessly) {
  const Tokenizer& t = Gpt2Tokenizer();
  const std::string cases[] = {
      std::string("\xFF"), std::string("\xC3"), std::string("abc\xC3"), std::string("\xC3(abc"),
      std::string("\xED\xA0\x80 surrogate"), std::string("\xC0\xAF overlong"),
      std::string("hi \x80\x80\x80 there"), std::string("\xF4\x90\x80\x80"),
      std::string("a\0b", 3), std::string("  \xE2\x82  x")};
  for (const std::string& text : cases) {
    const std::vector<int32_t> ids = t.Encode(text);
    EXPECT_FALSE(ids.empty());
    EXPECT_EQ(Decoded(t, ids), text);
  }
  // Valid parts still split as in valid text: " there" stays one token.
  const std::vector<int32_t> ids = t.Encode("hi \x80 there");
  EXPECT_EQ(ids.back(), t.Encode(" there").back());
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    std::string bytes(rng() % 40, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    EXPECT_EQ(Decoded(t, t.Encode(bytes)), bytes);
  }
}

TEST(TokenizerTest, LongPiecesEncode) {
  const Tokenizer& t = Gpt2Tokenizer();
  const std::string spaces(200000, ' ');
  EXPECT_EQ(Decoded(t, t.Encode(spaces + "x")), spaces + "x");
  std::string letters;
  for (int i = 0; i < 100000; ++i) letters.push_back(static_cast<char>('a' + i * 7 % 26));
  EXPECT_EQ(Decoded(t, t.Encode(letters)), letters);
  for (const std::string& text :
       {std::string(300000, '!'), std::string(300000, '7'), std::string(300000, '\xFF'),
        std::string(100000, '\n') + std::string(100000, ' ') + "\xE3\x81\x82"}) {
    EXPECT_EQ(Decoded(t, t.Encode(text)), text);
  }
}

TEST(TokenizerTest, ConcurrentEncodesAgree) {
  auto loaded = Tokenizer::Load(kModelDir + "/vocab.json", kModelDir + "/merges.txt");
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  const Tokenizer& t = loaded.value();
  auto text = ReadTextFile(GPT2Q_DATA_DIR "/tinyshakespeare-heldout.txt");
  ASSERT_TRUE(text.ok());
  const std::vector<int32_t> expected = Gpt2Tokenizer().Encode(text.value());
  std::vector<std::vector<int32_t>> got(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      for (int round = 0; round < 2; ++round) {
        got[i] = t.Encode(text.value());
        if (i == 0) t.ClearCache();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& ids : got) EXPECT_EQ(ids, expected);
}

}  // namespace
}  // namespace gpt2q
