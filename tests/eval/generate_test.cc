// Generation with the KV cache: the shipped model's greedy continuation against
// reference.json, max_length / max_new_tokens semantics, seeds, bad options.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <vector>

#include "../shipped_fixture.h"
#include "eval/generate.h"
#include "text/tokenizer.h"

namespace gpt2q {
namespace {


class GenerateTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = NewShippedModel();
    ASSERT_NE(model_, nullptr);
    reference_ = new nlohmann::json(LoadShippedReference());
  }
  static void TearDownTestSuite() {
    delete model_;
    delete reference_;
  }
  static GPT2* model_;
  static nlohmann::json* reference_;
};
GPT2* GenerateTest::model_ = nullptr;
nlohmann::json* GenerateTest::reference_ = nullptr;

TEST_F(GenerateTest, GreedyMatchesReference) {
  const auto& greedy = (*reference_)["greedy"];
  std::vector<int32_t> prompt = greedy["prompt_ids"].get<std::vector<int32_t>>();
  std::vector<int32_t> want = greedy["ids"].get<std::vector<int32_t>>();
  ThreadPool pool(2);
  GenerateOptions options;
  options.max_length = static_cast<int64_t>(want.size());
  options.sampling.greedy = true;
  auto result = Generate(*model_, prompt, options, pool);
  ASSERT_TRUE(result.ok()) << result.message();
  EXPECT_EQ(result->ids, want);
  EXPECT_EQ(result->prompt_tokens, static_cast<int64_t>(prompt.size()));
  EXPECT_EQ(result->new_tokens, static_cast<int64_t>(want.size() - prompt.size()));

  auto tokenizer = Tokenizer::Load(kShippedModelDir + "/vocab.json", kShippedModelDir + "/merges.txt");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.message();
  auto text = GenerateText(*model_, *tokenizer, greedy["prompt"].get<std::string>(), options, pool);
  ASSERT_TRUE(text.ok()) << text.message();
  EXPECT_EQ(text->text, greedy["text"].get<std::string>());
}

TEST_F(GenerateTest, LengthsFollowHuggingFace) {
  ThreadPool pool(2);
  const std::vector<int32_t> prompt = {33676, 4720, 25};
  GenerateOptions options;
  options.stop_at_eos = false;
  options.seed = 3;
  options.max_length = 10;
  auto r = Generate(*model_, prompt, options, pool);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->ids.size(), 10u);
  EXPECT_EQ(std::vector<int32_t>(r->ids.begin(), r->ids.begin() + 3), prompt);

  options.max_new_tokens = 4;  // overrides max_length
  r = Generate(*model_, prompt, options, pool);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->new_tokens, 4);

  options.max_new_tokens.reset();
  options.max_length = 2;  // prompt already longer: returned unchanged
  r = Generate(*model_, prompt, options, pool);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->ids, prompt);

  options.max_length = 5;  // an empty prompt starts from <|endoftext|>
  r = Generate(*model_, {}, options, pool);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->ids.size(), 5u);
  EXPECT_EQ(r->ids[0], model_->config().eos_token_id);
}

TEST_F(GenerateTest, SameSeedSameText) {
  ThreadPool pool(2);
  GenerateOptions options;
  options.sampling.top_k = 30;
  options.max_length = 30;
  options.seed = 11;
  options.stop_at_eos = false;
  auto a = Generate(*model_, {33676, 4720, 25}, options, pool);
  auto b = Generate(*model_, {33676, 4720, 25}, options, pool);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->ids, b->ids);
}

TEST_F(GenerateTest, StopsAfterEos) {
  ThreadPool pool(1);
  GenerateOptions options;
  options.sampling.greedy = true;
  options.max_length = model_->config().n_ctx;
  auto r = Generate(*model_, {33676, 4720, 25}, options, pool);
  ASSERT_TRUE(r.ok());
  for (size_t i = 3; i + 1 < r->ids.size(); ++i) EXPECT_NE(r->ids[i], model_->config().eos_token_id);
  if (r->stopped_at_eos) EXPECT_EQ(r->ids.back(), model_->config().eos_token_id);
  else EXPECT_EQ(static_cast<int64_t>(r->ids.size()), model_->config().n_ctx);
}

TEST_F(GenerateTest, RejectsBadOptions) {
  ThreadPool pool(1);
  GenerateOptions options;
  options.max_length = model_->config().n_ctx + 1;
  EXPECT_NE(Generate(*model_, {1}, options, pool).message().find("n_ctx"), std::string::npos);
  options.max_length = 10;
  options.max_new_tokens = -1;
  EXPECT_FALSE(Generate(*model_, {1}, options, pool).ok());
  options.max_new_tokens.reset();
  options.sampling.temperature = -1;
  EXPECT_FALSE(Generate(*model_, {1}, options, pool).ok());
  options.sampling.temperature = 1;
  EXPECT_FALSE(Generate(*model_, {-5}, options, pool).ok());
  EXPECT_FALSE(Generate(*model_, {static_cast<int32_t>(model_->config().n_vocab)}, options, pool).ok());
}

}  // namespace
}  // namespace gpt2q
