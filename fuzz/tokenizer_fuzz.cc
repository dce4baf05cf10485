// libFuzzer target: encodes arbitrary bytes with the shipped GPT-2 tokenizer
// and checks the promises of Tokenizer: ids in range, Decode(Encode(x)) == x
// for every byte string, the same ids from a warm cache, and special tokens.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "text/tokenizer.h"

namespace {

// The shipped fixture; $GPT2Q_DATA_DIR overrides the repository's data/.
std::string DataDir() {
  if (const char* dir = std::getenv("GPT2Q_DATA_DIR")) return dir;
#ifdef GPT2Q_DATA_DIR
  return GPT2Q_DATA_DIR;  // absolute, from CMake (__FILE__ is relative under ccache's base_dir)
#else
  std::string here = __FILE__;  // <repo>/fuzz/tokenizer_fuzz.cc
  return here.substr(0, here.rfind("/fuzz/")) + "/data";
#endif
}

const gpt2q::Tokenizer& SharedTokenizer() {
  static const gpt2q::Tokenizer* tokenizer = [] {
    const std::string dir = DataDir() + "/gpt2-tiny-shakespeare";
    auto loaded = gpt2q::Tokenizer::Load(dir + "/vocab.json", dir + "/merges.txt");
    if (!loaded.ok()) {
      std::fprintf(stderr, "tokenizer_fuzz: %s\n", loaded.message().c_str());
      std::abort();
    }
    return new gpt2q::Tokenizer(std::move(loaded).value());
  }();
  return *tokenizer;
}

void Require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "tokenizer_fuzz: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const gpt2q::Tokenizer& tokenizer = SharedTokenizer();
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  const std::vector<int32_t> ids = tokenizer.Encode(text);
  for (int32_t id : ids) Require(id >= 0 && id < tokenizer.vocab_size(), "id out of range");
  Require(size == 0 || !ids.empty(), "non-empty text encoded to no ids");
  Require(ids.size() <= size, "more ids than bytes");
  auto decoded = tokenizer.Decode(ids);
  Require(decoded.ok() && decoded.value() == text, "Decode(Encode(x)) != x");
  Require(tokenizer.Encode(text) == ids, "warm-cache encode differs from cold");

  const std::vector<int32_t> special = tokenizer.EncodeWithSpecialTokens(text);
  auto special_decoded = tokenizer.Decode(special);
  Require(special_decoded.ok() && special_decoded.value() == text,
          "Decode(EncodeWithSpecialTokens(x)) != x");
  if (text.find(gpt2q::Tokenizer::kEndOfText) == std::string_view::npos) {
    Require(special == ids, "EncodeWithSpecialTokens differs without special tokens");
  }
  // Keep the cache from growing across millions of inputs.
  if (size > 0 && data[0] == 0xA5) tokenizer.ClearCache();
  return 0;
}
