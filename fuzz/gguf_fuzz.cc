// libFuzzer target: arbitrary bytes as a GGUF file. Parsing must fail cleanly
// or give tensor views that lie inside the input; loading them as a GPT-2
// must fail cleanly or give a complete model whose every row reads, and a
// tokenizer built from its metadata must fail cleanly or load.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "model/gguf_checkpoint.h"
#include "text/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = gpt2q::GgufFile::FromBytes("fuzz.gguf", data, size, nullptr);
  if (!file.ok()) {
    if (file.message().empty()) std::abort();
    return 0;
  }
  uint64_t sum = 0;
  for (const gpt2q::GgufTensor& t : (*file)->tensors()) {
    if (t.data < data || t.nbytes < 0 || t.data + t.nbytes > data + size) std::abort();
    if (t.nbytes > 0) sum += t.data[0] + t.data[t.nbytes - 1];  // ASan checks the ends
    if ((*file)->FindTensor(t.name) != &t) std::abort();
  }
  for (const auto& [key, value] : (*file)->metadata()) {
    if ((*file)->Find(key) != &value) std::abort();
    for (std::string_view s : value.strings) sum += s.size();
  }
  auto checkpoint = gpt2q::LoadGgufCheckpoint(std::shared_ptr<const gpt2q::GgufFile>(*file));
  if (checkpoint.ok()) {
    std::vector<float> row;
    gpt2q::ForEachMatrix(checkpoint->weights, [&](const std::string&, gpt2q::ParamKind,
                                                  std::shared_ptr<gpt2q::WeightMatrix>& m) {
      if (m == nullptr) std::abort();
      row.resize(static_cast<size_t>(m->cols()));
      for (int64_t r = 0; r < m->rows(); ++r) m->DequantizeRow(r, row.data());
    });
    gpt2q::ForEachVector(checkpoint->weights, [&](const std::string&, gpt2q::ParamKind, gpt2q::FloatSpan& s) {
      if (s.data == nullptr || s.size <= 0) std::abort();
      volatile float x = s.data[0] + s.data[s.size - 1];
      (void)x;
    });
    auto tokenizer = gpt2q::Tokenizer::FromStrings(checkpoint->vocab.VocabJson(), checkpoint->vocab.MergesText());
    if (!tokenizer.ok() && tokenizer.message().empty()) std::abort();
  } else if (checkpoint.message().empty()) {
    std::abort();
  }
  if (sum == 1) std::fprintf(stderr, " ");  // keep the reads
  return 0;
}
