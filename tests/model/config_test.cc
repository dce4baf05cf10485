// config.json parsing: defaults, presets, rejection of non-GPT-2 configs, serialisation.
#include "model/config.h"

#include <gtest/gtest.h>

namespace gpt2q {
namespace {

const std::string kBase = R"("vocab_size":50257,"n_positions":1024,"n_embd":768,"n_layer":12,"n_head":12)";

Result<GPT2Config> Parse(const std::string& body) {
  return ParseConfigJsonText("cfg/config.json", "{" + body + "}");
}

TEST(Config, ParsesHuggingFaceKeysWithDefaults) {
  auto c = Parse(kBase + R"(,"n_inner":null,"layer_norm_epsilon":1e-6,"activation_function":"gelu_pytorch_tanh","model_type":"gpt2","eos_token_id":7)");
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c->n_inner, 3072);
  EXPECT_FLOAT_EQ(c->layer_norm_epsilon, 1e-6f);
  EXPECT_EQ(c->eos_token_id, 7);
  EXPECT_EQ(c->head_dim(), 64);
  EXPECT_EQ(c->ParameterCount(), 124439808);
  c = Parse(kBase + R"(,"n_inner":1000)");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->n_inner, 1000);
}

// gpt2 prefill of 1024 tokens: per token 2 × 7,077,888 multiply-adds per block's
// linears, 4 × 768 × (1025 / 2) for causal attention, 2 × 50257 × 768 for the head.
TEST(Config, ForwardFlopsOfGpt2) {
  auto c = PresetConfig("gpt2");
  ASSERT_TRUE(c.ok());
  const double per_token = 12 * (2.0 * 7077888 + 4.0 * 768 * 1025 / 2) + 2.0 * 50257 * 768;
  EXPECT_DOUBLE_EQ(c->ForwardFlops(1024, true), 1024 * per_token);
  EXPECT_NEAR(per_token / 1e6, 266.0, 0.1);
  // Last-token logits: the head once.
  EXPECT_DOUBLE_EQ(c->ForwardFlops(1024, false), 1024 * (per_token - 2.0 * 50257 * 768) + 2.0 * 50257 * 768);
}

TEST(Config, RejectsNonGpt2AndAbsurdConfigs) {
  struct Case {
    std::string body, fragment;
  };
  const Case cases[] = {
      {kBase + R"(,"model_type":"llama")", "key 'model_type': expected \"gpt2\", got \"llama\""},
      {kBase + R"(,"activation_function":"relu")", "expected \"gelu_new\" or \"gelu_pytorch_tanh\", got \"relu\""},
      {R"("vocab_size":50257,"n_positions":1024,"n_embd":768,"n_layer":12,"n_head":10)",
       "n_embd (768) must be divisible by n_head (10)"},
      {R"("vocab_size":0,"n_positions":1024,"n_embd":768,"n_layer":12,"n_head":12)",
       "key 'vocab_size': expected an integer in [1, 1000000], got 0"},
      {R"("vocab_size":10000000,"n_positions":1024,"n_embd":768,"n_layer":12,"n_head":12)",
       "key 'vocab_size': expected an integer in [1, 1000000], got 10000000"},
      {R"("vocab_size":50257,"n_positions":1024,"n_embd":-768,"n_layer":12,"n_head":12)",
       "key 'n_embd': expected an integer in"},
      {R"("vocab_size":50257,"n_positions":1024,"n_embd":768.5,"n_layer":12,"n_head":12)",
       "key 'n_embd': expected an integer, got 768.5"},
      {R"("vocab_size":50257,"n_positions":1024,"n_embd":768,"n_head":12)", "missing key 'n_layer'"},
      {kBase + R"(,"layer_norm_epsilon":0)", "key 'layer_norm_epsilon'"},
      {kBase + R"(,"eos_token_id":50257)", "key 'eos_token_id'"},
  };
  for (const Case& c : cases) {
    auto r = Parse(c.body);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_NE(r.message().find("cfg/config.json: "), std::string::npos) << r.message();
    EXPECT_NE(r.message().find(c.fragment), std::string::npos) << r.message();
  }
  auto r = ParseConfigJsonText("x.json", "[1]");
  EXPECT_NE(r.message().find("expected a JSON object, got array"), std::string::npos);
  r = ParseConfigJsonText("x.json", "{");
  EXPECT_NE(r.message().find("x.json: not valid JSON"), std::string::npos);
  r = ParseConfigJson("/nonexistent/config.json");
  EXPECT_NE(r.message().find("/nonexistent/config.json: cannot open"), std::string::npos);
}

TEST(Config, PresetsAndRoundTrip) {
  const struct {
    const char* name;
    int64_t embd, layer, head;
  } presets[] = {{"gpt2", 768, 12, 12}, {"gpt2-medium", 1024, 24, 16},
                 {"gpt2-large", 1280, 36, 20}, {"gpt2-xl", 1600, 48, 25}};
  for (const auto& p : presets) {
    auto c = PresetConfig(p.name);
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->n_embd, p.embd);
    EXPECT_EQ(c->n_layer, p.layer);
    EXPECT_EQ(c->n_head, p.head);
    EXPECT_EQ(c->n_vocab, 50257);
    EXPECT_EQ(c->n_ctx, 1024);
    auto back = ParseConfigJsonText("rt", ConfigToJson(*c));
    ASSERT_TRUE(back.ok()) << back.message();
    EXPECT_EQ(back->n_embd, c->n_embd);
    EXPECT_EQ(back->n_inner, c->n_inner);
    EXPECT_EQ(back->layer_norm_epsilon, c->layer_norm_epsilon);
  }
  EXPECT_NE(ConfigToJson(PresetConfig("gpt2").value()).find("\"layer_norm_epsilon\": 1e-05"),
            std::string::npos);
  auto bad = PresetConfig("gpt3");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("gpt2, gpt2-medium, gpt2-large, gpt2-xl"), std::string::npos);
}

}  // namespace
}  // namespace gpt2q
