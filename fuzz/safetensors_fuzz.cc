// libFuzzer target: arbitrary bytes as a safetensors file. Parsing must fail
// cleanly or give views that lie inside the input; loading them as a tiny
// GPT-2 checkpoint must fail cleanly or give a complete model.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "io/safetensors.h"
#include "model/checkpoint.h"

namespace {

// A folder with a tiny GPT-2 config.json (vocab 4, ctx 2, embd 2, 1 layer, 1 head, inner 2).
const std::string& TinyDir() {
  static const std::string* dir = [] {
    char tmpl[] = "/tmp/gpt2q_st_fuzz_XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) std::abort();
    auto* d = new std::string(tmpl);
    std::FILE* f = std::fopen((*d + "/config.json").c_str(), "wb");
    if (f == nullptr) std::abort();
    std::fputs(R"({"model_type":"gpt2","vocab_size":4,"n_positions":2,"n_embd":2,)"
               R"("n_layer":1,"n_head":1,"n_inner":2})", f);
    std::fclose(f);
    return d;
  }();
  return *dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = gpt2q::SafetensorsFile::FromBytes("fuzz.safetensors", data, size, nullptr);
  if (file.ok()) {
    uint64_t sum = 0;
    for (const gpt2q::TensorView& t : (*file)->tensors()) {
      if (t.data < data || t.data + t.nbytes > data + size) std::abort();
      if (t.nbytes > 0) sum += t.data[0] + t.data[t.nbytes - 1];  // ASan checks the ends
      if ((*file)->Find(t.name) != &t) std::abort();
    }
    if (sum == 1) std::fprintf(stderr, " ");  // keep the reads
  }

  // The same bytes as model.safetensors of a tiny checkpoint.
  const std::string path = TinyDir() + "/model.safetensors";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  auto weights = gpt2q::LoadCheckpoint(TinyDir());
  if (weights.ok()) {
    // A loaded model is complete: every row of every matrix is readable.
    float row[4];
    gpt2q::ForEachMatrix(*weights, [&](const std::string&, gpt2q::ParamKind,
                                       std::shared_ptr<gpt2q::WeightMatrix>& m) {
      if (m == nullptr || m->cols() > 4) std::abort();
      for (int64_t r = 0; r < m->rows(); ++r) m->DequantizeRow(r, row);
    });
    gpt2q::ForEachVector(*weights, [&](const std::string&, gpt2q::ParamKind,
                                       gpt2q::FloatSpan& s) {
      if (s.data == nullptr || s.size <= 0) std::abort();
      volatile float x = s.data[0] + s.data[s.size - 1];
      (void)x;
    });
  } else if (weights.message().empty()) {
    std::abort();
  }
  return 0;
}
