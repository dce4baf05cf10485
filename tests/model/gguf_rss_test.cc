// How much a loaded GGUF adds to the RSS: its tensor bytes once (mapped, used
// in place), not twice (mapped and copied). Gated: set GPT2Q_GGUF_RSS_FILE to
// a .gguf (e.g. `gpt2q quantize --synthetic gpt2 --quant q4_0 --export gguf`)
// and, to compare, GPT2Q_RSS_FOLDER to the same model as gpt2q's own folder.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "core/memory_stats.h"
#include "model/checkpoint.h"
#include "model/gguf_checkpoint.h"

namespace gpt2q {
namespace {

// Reads every row of every matrix and every vector (all weight pages touched).
void TouchAll(ModelWeights& w) {
  std::vector<float> row;
  double sum = 0;
  ForEachMatrix(w, [&](const std::string&, ParamKind, std::shared_ptr<WeightMatrix>& m) {
    row.resize(static_cast<size_t>(m->cols()));
    for (int64_t r = 0; r < m->rows(); ++r) {
      m->DequantizeRow(r, row.data());
      sum += row[0];
    }
  });
  ForEachVector(w, [&](const std::string&, ParamKind, FloatSpan& s) {
    for (int64_t i = 0; i < s.size; ++i) sum += s.data[i];
  });
  if (sum == 0.123) std::printf(" ");
}

int64_t StoredBytes(ModelWeights& w) {
  int64_t bytes = 0;
  ForEachMatrix(w, [&](const std::string&, ParamKind, std::shared_ptr<WeightMatrix>& m) { bytes += m->StoredBytes(); });
  ForEachVector(w, [&](const std::string&, ParamKind, FloatSpan& s) { bytes += s.size * 4; });
  return bytes;
}

TEST(GgufRss, LoadingMapsTheTensorsOnce) {
  const char* gguf = std::getenv("GPT2Q_GGUF_RSS_FILE");
  if (gguf == nullptr) GTEST_SKIP() << "set GPT2Q_GGUF_RSS_FILE to a .gguf to measure";
  const int64_t before = CurrentRssBytes();
  auto ck = LoadGgufCheckpoint(gguf);
  ASSERT_TRUE(ck.ok()) << ck.message();
  const int64_t opened = CurrentRssBytes();
  TouchAll(ck->weights);
  const int64_t touched = CurrentRssBytes();
  const int64_t bytes = StoredBytes(ck->weights);
  std::printf("gguf   %s: weights %.1f MiB; RSS +%.1f MiB at open, +%.1f MiB with every weight read (%.2fx)\n", gguf,
              bytes / 1048576.0, (opened - before) / 1048576.0, (touched - before) / 1048576.0,
              double(touched - before) / double(bytes));
  EXPECT_LT(touched - before, bytes * 5 / 4);
  if (const char* folder = std::getenv("GPT2Q_RSS_FOLDER")) {
    const int64_t before2 = CurrentRssBytes();
    auto w = LoadCheckpoint(folder);
    ASSERT_TRUE(w.ok()) << w.message();
    const int64_t opened2 = CurrentRssBytes();
    TouchAll(*w);
    const int64_t touched2 = CurrentRssBytes();
    std::printf("folder %s: weights %.1f MiB; RSS +%.1f MiB at open, +%.1f MiB with every weight read (%.2fx)\n",
                folder, StoredBytes(*w) / 1048576.0, (opened2 - before2) / 1048576.0,
                (touched2 - before2) / 1048576.0, double(touched2 - before2) / double(StoredBytes(*w)));
  }
}

}  // namespace
}  // namespace gpt2q
