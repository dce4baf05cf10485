// The fp32 forward pass against the fixture's reference.json (independent
// PyTorch outputs), and its properties: KV-cache decode == prefill, thread
// count and batching do not change results.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <vector>

#include "../shipped_fixture.h"

namespace gpt2q {
namespace {

class ForwardTest : public ::testing::Test {
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

  // Returns the logits [tokens.size(), n_vocab] of one prefill.
  static std::vector<float> Prefill(const std::vector<int32_t>& tokens, int threads) {
    ThreadPool pool(threads);
    KVCache cache(model_->config(), 1, static_cast<int64_t>(tokens.size()));
    std::vector<float> logits(tokens.size() * model_->config().n_vocab);
    model_->Forward(tokens.data(), 1, static_cast<int64_t>(tokens.size()), cache, LogitsMode::kAll,
                    logits.data(), pool);
    return logits;
  }

  static GPT2* model_;
  static nlohmann::json* reference_;
};
GPT2* ForwardTest::model_ = nullptr;
nlohmann::json* ForwardTest::reference_ = nullptr;

TEST_F(ForwardTest, LogitsMatchReference) {
  const auto& probe = (*reference_)["logits_probe"];
  std::vector<int32_t> ids = probe["input_ids"].get<std::vector<int32_t>>();
  const auto vocab_ids = probe["vocab_ids"].get<std::vector<int64_t>>();
  const int64_t V = model_->config().n_vocab;
  std::vector<float> logits = Prefill(ids, 2);
  for (size_t t = 0; t < ids.size(); ++t) {
    const float* row = logits.data() + t * V;
    for (size_t j = 0; j < vocab_ids.size(); ++j) {
      EXPECT_NEAR(row[vocab_ids[j]], probe["logits"][t][j].get<double>(), 1e-4)
          << "position " << t << " token " << vocab_ids[j];
    }
    double max = row[0];
    int64_t argmax = 0;
    for (int64_t v = 1; v < V; ++v) {
      if (row[v] > max) max = row[v], argmax = v;
    }
    double sum = 0;
    for (int64_t v = 0; v < V; ++v) sum += std::exp(double(row[v]) - max);
    EXPECT_NEAR(max + std::log(sum), probe["logsumexp"][t].get<double>(), 1e-4) << "position " << t;
    EXPECT_EQ(argmax, probe["argmax"][t].get<int64_t>()) << "position " << t;
  }
}

TEST_F(ForwardTest, KvCacheDecodeEqualsPrefill) {
  std::vector<int32_t> ids = (*reference_)["logits_probe"]["input_ids"].get<std::vector<int32_t>>();
  const int64_t V = model_->config().n_vocab;
  const int64_t T = static_cast<int64_t>(ids.size());
  std::vector<float> full = Prefill(ids, 2);

  ThreadPool pool(2);
  KVCache cache(model_->config(), 1, T);
  const int64_t prompt = 11;  // an odd split: prefill 11 tokens, decode the rest one by one
  std::vector<float> part(prompt * V);
  model_->Forward(ids.data(), 1, prompt, cache, LogitsMode::kAll, part.data(), pool);
  std::vector<float> step(V);
  for (int64_t t = prompt; t < T; ++t) {
    model_->Forward(ids.data() + t, 1, 1, cache, LogitsMode::kLast, step.data(), pool);
    for (int64_t v = 0; v < V; v += 97) {
      ASSERT_NEAR(step[v], full[t * V + v], 1e-4) << "position " << t << " token " << v;
    }
  }
  for (int64_t v = 0; v < prompt * V; v += 89) ASSERT_NEAR(part[v], full[v], 1e-4);
}

TEST_F(ForwardTest, OneThreadEqualsTwoThreadsBitwise) {
  std::vector<int32_t> ids;
  for (int i = 0; i < 200; ++i) ids.push_back((i * 7919) % 50257);
  std::vector<float> one = Prefill(ids, 1);
  std::vector<float> two = Prefill(ids, 2);
  ASSERT_EQ(one.size(), two.size());
  EXPECT_EQ(0, std::memcmp(one.data(), two.data(), one.size() * sizeof(float)));
}

TEST_F(ForwardTest, BatchEqualsSeparateSequences) {
  std::vector<int32_t> a, b;
  for (int i = 0; i < 40; ++i) a.push_back((i * 31 + 7) % 50257), b.push_back((i * 101 + 3) % 50257);
  std::vector<int32_t> both = a;
  both.insert(both.end(), b.begin(), b.end());
  const int64_t V = model_->config().n_vocab;
  ThreadPool pool(2);
  KVCache cache(model_->config(), 2, 40);
  std::vector<float> logits(2 * V);
  model_->Forward(both.data(), 2, 40, cache, LogitsMode::kLast, logits.data(), pool);
  std::vector<float> la = Prefill(a, 2), lb = Prefill(b, 2);
  for (int64_t v = 0; v < V; v += 13) {
    EXPECT_NEAR(logits[v], la[39 * V + v], 1e-5);
    EXPECT_NEAR(logits[V + v], lb[39 * V + v], 1e-5);
  }
}

}  // namespace
}  // namespace gpt2q
