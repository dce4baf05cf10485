// CompareModels with several candidates per reference pass: each candidate's
// statistics are the same, bit for bit, as comparing it alone, and its memory
// peak leaves out the other candidates held beside it.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "../shipped_fixture.h"
#include "core/aligned_buffer.h"
#include "core/memory_stats.h"
#include "core/scratch_buffer.h"
#include "eval/kl_divergence.h"
#include "formats/fp32_matrix.h"
#include "text/text_file.h"
#include "text/tokenizer.h"

namespace gpt2q {
namespace {

// The shipped model with h.0.mlp.c_fc multiplied by `gain` (1: the model
// itself) in a tracked buffer of its own, and the tracked bytes it holds.
struct Variant {
  std::unique_ptr<GPT2> model;
  int64_t resident_bytes = 0;
};
Variant LoadVariant(float gain) {
  const int64_t before = TrackedBytes() - TrackedScratchBytes();
  auto weights = LoadCheckpoint(kShippedModelDir);
  EXPECT_TRUE(weights.ok()) << weights.message();
  ModelWeights w = std::move(weights).value();
  const auto* fc = dynamic_cast<const Fp32Matrix*>(w.blocks[0].mlp_c_fc.get());
  EXPECT_NE(fc, nullptr);
  const int64_t n = fc->rows() * fc->cols();
  auto scaled = std::make_shared<AlignedBuffer>(n * sizeof(float));
  for (int64_t i = 0; i < n; ++i) scaled->as<float>()[i] = fc->data()[i] * gain;
  w.blocks[0].mlp_c_fc = std::make_shared<Fp32Matrix>(scaled->as<float>(), fc->rows(), fc->cols(), fc->layout(), scaled);
  Variant v;
  v.model = std::make_unique<GPT2>(std::move(w));
  v.resident_bytes = TrackedBytes() - TrackedScratchBytes() - before;
  return v;
}

void ExpectSameStats(const KlStats& a, const KlStats& b) {
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.kld_mean, b.kld_mean);
  EXPECT_EQ(a.kld_stderr, b.kld_stderr);
  EXPECT_EQ(a.kld_median, b.kld_median);
  EXPECT_EQ(a.kld_p99, b.kld_p99);
  EXPECT_EQ(a.kld_max, b.kld_max);
  EXPECT_EQ(a.top1_agree, b.top1_agree);
  EXPECT_EQ(a.rms_delta_p, b.rms_delta_p);
  EXPECT_EQ(a.reference.token_nll, b.reference.token_nll);
  EXPECT_EQ(a.candidate.token_nll, b.candidate.token_nll);
  EXPECT_EQ(a.candidate.ppl, b.candidate.ppl);
  EXPECT_EQ(a.candidate.tokens_run, b.candidate.tokens_run);
}

TEST(CompareModelsTest, GroupedCandidatesEqualEachComparedAlone) {
  UseSingleThreadedBlas();
  ThreadPool pool(2);
  auto tokenizer = Tokenizer::Load(kShippedModelDir + "/vocab.json", kShippedModelDir + "/merges.txt");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.message();
  auto text = ReadTextFile(std::string(GPT2Q_DATA_DIR) + "/tinyshakespeare-heldout.txt");
  ASSERT_TRUE(text.ok()) << text.message();
  std::vector<int32_t> tokens = tokenizer->Encode(*text);
  tokens.resize(700);  // windows of 256 by 128, the last one shorter
  PerplexityOptions options;
  options.stride = 128;

  Variant reference = LoadVariant(1.0f);
  std::vector<Variant> variants;
  for (float gain : {1.0f, 0.9f, 1.2f}) variants.push_back(LoadVariant(gain));
  std::vector<CompareCandidate> group;
  int64_t resident_total = 0;
  for (const Variant& v : variants) {
    EXPECT_GE(v.resident_bytes, 128 * 512 * 4);  // its own c_fc (the rest is the mapped file)
    group.push_back({v.model.get(), v.resident_bytes});
    resident_total += v.resident_bytes;
  }

  std::vector<KlStats> alone;
  for (const Variant& v : variants) {
    auto one = CompareModels(*reference.model, *v.model, tokens, options, pool);
    ASSERT_TRUE(one.ok()) << one.message();
    alone.push_back(*one);
  }
  auto grouped = CompareModels(*reference.model, group, tokens, options, pool);
  ASSERT_TRUE(grouped.ok()) << grouped.message();
  ASSERT_EQ(grouped->size(), variants.size());
  for (size_t i = 0; i < variants.size(); ++i) {
    SCOPED_TRACE(i);
    ExpectSameStats((*grouped)[i], alone[i]);
    // The peak leaves out the other two candidates' bytes, which the single
    // comparisons (all three loaded) counted; the kernels' scratch has reached
    // its size in the runs above.
    const int64_t others = resident_total - variants[i].resident_bytes;
    EXPECT_EQ((*grouped)[i].candidate.peak_tracked_bytes, alone[i].candidate.peak_tracked_bytes - others);
    EXPECT_GT((*grouped)[i].candidate.forward_s, 0.0);
    EXPECT_EQ((*grouped)[i].reference.ppl, (*grouped)[0].reference.ppl);
  }
  // The model against itself: no divergence; the others diverge, and differently.
  EXPECT_EQ(alone[0].kld_mean, 0.0);
  EXPECT_EQ(alone[0].top1_agree, 1.0);
  EXPECT_GT(alone[1].kld_mean, 0.0);
  EXPECT_GT(alone[2].kld_mean, 0.0);
  EXPECT_NE(alone[1].kld_mean, alone[2].kld_mean);
  // The reference's ppl is EvaluatePerplexity's on the same windows.
  auto ppl = EvaluatePerplexity(*reference.model, tokens, options, pool);
  ASSERT_TRUE(ppl.ok()) << ppl.message();
  EXPECT_EQ((*grouped)[0].reference.token_nll, ppl->token_nll);
}

TEST(CompareModelsTest, RefusesAModelWithAnotherVocabulary) {
  ThreadPool pool(1);
  Variant reference = LoadVariant(1.0f);
  GPT2Config other = reference.model->config();
  other.n_ctx = 128;
  auto weights = LoadCheckpoint(kShippedModelDir);
  ASSERT_TRUE(weights.ok());
  ModelWeights w = std::move(weights).value();
  w.config = other;
  GPT2 shorter(std::move(w));
  const std::vector<int32_t> tokens(300, 1);
  auto r = CompareModels(*reference.model, shorter, tokens, PerplexityOptions{}, pool);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("same vocabulary and context"), std::string::npos) << r.message();
}

}  // namespace
}  // namespace gpt2q
