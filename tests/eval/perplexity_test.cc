// Sliding-window perplexity: the window plan of gpt2ref.py window_nll, input
// validation, and the shipped model's perplexity against reference.json.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <vector>

#include "../shipped_fixture.h"
#include "eval/perplexity.h"
#include "text/text_file.h"
#include "text/tokenizer.h"

namespace gpt2q {
namespace {

const std::string kTextPath = std::string(GPT2Q_DATA_DIR) + "/tinyshakespeare-heldout.txt";

// Returns the targets (token indices) that the plan scores, in order.
std::vector<int64_t> ScoredTargets(const std::vector<EvalWindow>& windows) {
  std::vector<int64_t> targets;
  for (const EvalWindow& w : windows) {
    for (int64_t r = w.first_scored; r < w.length() - 1; ++r) targets.push_back(w.begin + r + 1);
  }
  return targets;
}

TEST(PlanWindowsTest, HalfStrideScoresEveryTokenOnce) {
  // window_nll(ids of 10, ctx 4, stride 2): [0,4) scores 1..3, [2,6) 4..5, [4,8) 6..7, [6,10) 8..9.
  std::vector<EvalWindow> windows = PlanWindows(10, 4, 2);
  ASSERT_EQ(windows.size(), 4u);
  EXPECT_EQ(windows[0].begin, 0);
  EXPECT_EQ(windows[0].first_scored, 0);
  EXPECT_EQ(windows[1].begin, 2);
  EXPECT_EQ(windows[1].end, 6);
  EXPECT_EQ(windows[1].first_scored, 1);
  EXPECT_EQ(windows[3].end, 10);
  std::vector<int64_t> expected = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  EXPECT_EQ(ScoredTargets(windows), expected);
}

TEST(PlanWindowsTest, StrideEqualToCtxSkipsEachWindowsFirstToken) {
  // As window_nll: a window's first token has no context inside the window.
  std::vector<int64_t> expected = {1, 2, 3, 5, 6, 7, 9};
  EXPECT_EQ(ScoredTargets(PlanWindows(10, 4, 4)), expected);
}

TEST(PlanWindowsTest, EveryTargetOnceForManyShapes) {
  for (int64_t n : {2, 3, 7, 64, 257}) {
    for (int64_t ctx : {2, 5, 16, 300}) {
      for (int64_t stride = 1; stride < ctx && stride <= 17; stride += 3) {
        std::vector<int64_t> targets = ScoredTargets(PlanWindows(n, ctx, stride));
        ASSERT_EQ(static_cast<int64_t>(targets.size()), n - 1) << n << " " << ctx << " " << stride;
        for (int64_t i = 0; i < n - 1; ++i) ASSERT_EQ(targets[i], i + 1);
      }
    }
  }
}

TEST(TokenNllTest, MatchesLogSoftmax) {
  const float logits[3] = {1.0f, 2.0f, 3.0f};
  const double lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  EXPECT_NEAR(TokenNll(logits, 3, 0), lse - 1.0, 1e-12);
  EXPECT_NEAR(TokenNll(logits, 3, 2), lse - 3.0, 1e-12);
  const float large[2] = {1000.0f, 1000.0f};  // no overflow: max subtracted first
  EXPECT_NEAR(TokenNll(large, 2, 1), std::log(2.0), 1e-12);
}

class PerplexityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = NewShippedModel();
    ASSERT_NE(model_, nullptr);
    auto tokenizer = Tokenizer::Load(kShippedModelDir + "/vocab.json", kShippedModelDir + "/merges.txt");
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.message();
    auto text = ReadTextFile(kTextPath);
    ASSERT_TRUE(text.ok()) << text.message();
    tokens_ = new std::vector<int32_t>(tokenizer->Encode(*text));
  }
  static void TearDownTestSuite() {
    delete model_;
    delete tokens_;
  }
  static GPT2* model_;
  static std::vector<int32_t>* tokens_;
};
GPT2* PerplexityTest::model_ = nullptr;
std::vector<int32_t>* PerplexityTest::tokens_ = nullptr;

TEST_F(PerplexityTest, MatchesReferenceOnHeldOutText) {
  const nlohmann::json reference = LoadShippedReference();
  ASSERT_EQ(static_cast<int64_t>(tokens_->size()), reference["eval_tokens"].get<int64_t>());
  const auto& fp32 = reference["perplexity"]["fp32"];

  ThreadPool pool(2);
  PerplexityOptions options;
  options.ctx = reference["ctx"].get<int64_t>();
  options.stride = reference["stride"].get<int64_t>();
  auto result = EvaluatePerplexity(*model_, *tokens_, options, pool);
  ASSERT_TRUE(result.ok()) << result.message();
  EXPECT_EQ(result->tokens_scored, fp32["tokens_scored"].get<int64_t>());
  EXPECT_NEAR(result->nll_sum, fp32["nll_sum"].get<double>(), 1e-5 * fp32["nll_sum"].get<double>());
  EXPECT_NEAR(result->ppl, fp32["ppl"].get<double>(), 1e-5 * fp32["ppl"].get<double>());
  EXPECT_NEAR(result->loss, fp32["mean_nll"].get<double>(), 1e-5 * fp32["mean_nll"].get<double>());
  EXPECT_EQ(static_cast<int64_t>(result->token_nll.size()), result->tokens_scored);
  EXPECT_GT(result->ppl_stderr, 0.0);
  EXPECT_LT(result->ppl_stderr, 0.05 * result->ppl);
  EXPECT_GT(result->tokens_per_s, 0.0);
  EXPECT_GT(result->peak_tracked_bytes, 0);
}

TEST_F(PerplexityTest, BatchingAndRowHookAgreeWithBatchOne) {
  std::vector<int32_t> tokens(tokens_->begin(), tokens_->begin() + 700);
  ThreadPool pool(2);
  PerplexityOptions options;
  options.ctx = 128;
  options.stride = 64;
  auto single = EvaluatePerplexity(*model_, tokens, options, pool);
  ASSERT_TRUE(single.ok()) << single.message();

  options.batch = 4;
  std::vector<int64_t> targets;
  double hook_sum = 0;
  options.on_scored_row = [&](int64_t target, const float* logits) {
    targets.push_back(target);
    hook_sum += TokenNll(logits, model_->config().n_vocab, tokens[target]);
  };
  auto batched = EvaluatePerplexity(*model_, tokens, options, pool);
  ASSERT_TRUE(batched.ok()) << batched.message();
  EXPECT_EQ(batched->tokens_scored, 699);
  ASSERT_EQ(targets.size(), 699u);
  for (size_t i = 0; i < targets.size(); ++i) ASSERT_EQ(targets[i], static_cast<int64_t>(i) + 1);
  EXPECT_NEAR(hook_sum, batched->nll_sum, 1e-9 * batched->nll_sum);
  EXPECT_NEAR(batched->nll_sum, single->nll_sum, 1e-6 * single->nll_sum);
}

TEST_F(PerplexityTest, RejectsBadOptions) {
  ThreadPool pool(1);
  std::vector<int32_t> tokens(tokens_->begin(), tokens_->begin() + 50);
  PerplexityOptions options;
  EXPECT_FALSE(EvaluatePerplexity(*model_, {42}, options, pool).ok());
  options.ctx = model_->config().n_ctx + 1;
  EXPECT_NE(EvaluatePerplexity(*model_, tokens, options, pool).message().find("ctx"), std::string::npos);
  options.ctx = 0;
  EXPECT_FALSE(EvaluatePerplexity(*model_, tokens, options, pool).ok());
  options.ctx = 16;
  options.stride = 0;
  EXPECT_NE(EvaluatePerplexity(*model_, tokens, options, pool).message().find("stride"), std::string::npos);
  options.stride = 17;
  EXPECT_FALSE(EvaluatePerplexity(*model_, tokens, options, pool).ok());
  options.stride = 8;
  options.batch = 0;
  EXPECT_FALSE(EvaluatePerplexity(*model_, tokens, options, pool).ok());
  options.batch = 1;
  tokens[3] = static_cast<int32_t>(model_->config().n_vocab);
  EXPECT_FALSE(EvaluatePerplexity(*model_, tokens, options, pool).ok());
  tokens[3] = 0;
  EXPECT_TRUE(EvaluatePerplexity(*model_, tokens, options, pool).ok());
}

}  // namespace
}  // namespace gpt2q
