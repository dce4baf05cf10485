// Tokenizer throughput on the shipped held-out Shakespeare text: encode with a
// cold and a warm piece cache, pre-tokenization alone, decode, and loading.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>

#include "text/text_file.h"
#include "text/tokenizer.h"

namespace gpt2q {
namespace {

const std::string kModelDir = GPT2Q_DATA_DIR "/gpt2-tiny-shakespeare";

template <typename T>
const T& OrDie(const Result<T>& result) {
  if (!result.ok()) {
    std::fprintf(stderr, "%s\n", result.message().c_str());
    std::exit(1);
  }
  return result.value();
}

const Tokenizer& SharedTokenizer() {
  static const auto* tokenizer = new Result<Tokenizer>(
      Tokenizer::Load(kModelDir + "/vocab.json", kModelDir + "/merges.txt"));
  return OrDie(*tokenizer);
}

const std::string& HeldOutText() {
  static const auto* text = new Result<std::string>(
      ReadTextFile(GPT2Q_DATA_DIR "/tinyshakespeare-heldout.txt"));
  return OrDie(*text);
}

// Every iteration starts from an empty piece cache, as a fresh Tokenizer.
void BM_EncodeCold(benchmark::State& state) {
  const Tokenizer& tokenizer = SharedTokenizer();
  const std::string& text = HeldOutText();
  for (auto _ : state) {
    tokenizer.ClearCache();
    benchmark::DoNotOptimize(tokenizer.Encode(text));
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(text.size()));
}
BENCHMARK(BM_EncodeCold)->Unit(benchmark::kMillisecond);

// Every piece of the text is already in the cache.
void BM_EncodeWarm(benchmark::State& state) {
  const Tokenizer& tokenizer = SharedTokenizer();
  const std::string& text = HeldOutText();
  tokenizer.Encode(text);
  for (auto _ : state) benchmark::DoNotOptimize(tokenizer.Encode(text));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(text.size()));
}
BENCHMARK(BM_EncodeWarm)->Unit(benchmark::kMillisecond);

// The PCRE2 split alone: the floor under any encode.
void BM_Pretokenize(benchmark::State& state) {
  static const auto* created = new Result<Pretokenizer>(Pretokenizer::Create());
  const Pretokenizer& pretokenizer = OrDie(*created);
  const std::string& text = HeldOutText();
  for (auto _ : state) {
    size_t pieces = 0;
    pretokenizer.ForEachPiece(text, [&](std::string_view) { ++pieces; });
    benchmark::DoNotOptimize(pieces);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(text.size()));
}
BENCHMARK(BM_Pretokenize)->Unit(benchmark::kMillisecond);

// Bytes are counted as decoded text bytes.
void BM_Decode(benchmark::State& state) {
  const Tokenizer& tokenizer = SharedTokenizer();
  const std::string& text = HeldOutText();
  const std::vector<int32_t> ids = tokenizer.Encode(text);
  for (auto _ : state) benchmark::DoNotOptimize(tokenizer.Decode(ids));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(text.size()));
}
BENCHMARK(BM_Decode)->Unit(benchmark::kMicrosecond);

// Parsing and validating vocab.json + merges.txt (50257 tokens, 50000 rules).
void BM_Load(benchmark::State& state) {
  for (auto _ : state) {
    auto tokenizer = Tokenizer::Load(kModelDir + "/vocab.json", kModelDir + "/merges.txt");
    if (!tokenizer.ok()) state.SkipWithError(tokenizer.message().c_str());
    benchmark::DoNotOptimize(tokenizer);
  }
}
BENCHMARK(BM_Load)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace gpt2q

BENCHMARK_MAIN();
