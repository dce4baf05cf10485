// zeroquant:lkd=1 on the shipped fixtures: mean KLD against fp32 on the
// evaluation text at least 30% below plain zeroquant:bits=4 (scope
// no-lm-head) and the distillation loss of every block lower after than
// before (a short run on the outlier fixture always; the defaults on both
// fixtures and the whole text with GPT2Q_SLOW_TESTS=1), the same run twice
// bit-identical, threads 1 == 2; the options' parsing.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "calib/windows.h"
#include "eval/kl_divergence.h"
#include "kernels/blas.h"
#include "model/checkpoint.h"
#include "model/gpt2.h"
#include "quant/quantize_model.h"
#include "quant/zeroquant_lkd.h"
#include "text/text_file.h"
#include "text/tokenizer.h"

namespace gpt2q {
namespace {

const std::string kShared = std::string(GPT2Q_SHARED_DIR) + "/fixtures/";

struct Fixture {
  std::string dir;
  std::vector<int32_t> eval_tokens;
  CalibrationWindows windows;
};

// The fixture, the first `eval_tokens` tokens of the held-out text and
// `n_windows` calibration windows of 256 tokens (spec §3's placement).
Fixture LoadFixture(const std::string& name, int64_t eval_tokens, int64_t n_windows) {
  Fixture f;
  f.dir = kShared + name;
  auto tokenizer = Tokenizer::Load(f.dir + "/vocab.json", f.dir + "/merges.txt");
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.message();
  auto eval = ReadTextFile(std::string(GPT2Q_DATA_DIR) + "/tinyshakespeare-heldout.txt");
  EXPECT_TRUE(eval.ok()) << eval.message();
  f.eval_tokens = tokenizer->Encode(*eval);
  if (eval_tokens > 0 && static_cast<int64_t>(f.eval_tokens.size()) > eval_tokens) f.eval_tokens.resize(eval_tokens);
  auto calib = ReadTextFile(std::string(GPT2Q_DATA_DIR) + "/tinyshakespeare-calib.txt");
  EXPECT_TRUE(calib.ok()) << calib.message();
  auto windows = MakeCalibrationWindows(tokenizer->Encode(*calib), n_windows, 256, 256, "calib");
  EXPECT_TRUE(windows.ok()) << windows.message();
  f.windows = std::move(windows).value();
  return f;
}

// The fixture quantized with `spec` on scope no-lm-head; the distillation's
// per-block log when the spec has lkd=1.
struct Quantized {
  std::unique_ptr<GPT2> model;
  std::vector<LkdBlockLog> log;
};

Quantized Quantize(const Fixture& f, const std::string& spec_text, int threads) {
  ThreadPool pool(threads);
  auto weights = LoadCheckpoint(f.dir);
  EXPECT_TRUE(weights.ok()) << weights.message();
  auto spec = ParseQuantSpec(spec_text);
  EXPECT_TRUE(spec.ok()) << spec.message();
  auto scope = MakeScope("no-lm-head", {}, {}, weights->config.n_layer);
  Quantized out;
  if (NeedsCalibration(*spec)) {
    CalibrateArgs args;
    args.weights = &weights.value();
    args.windows = &f.windows;
    args.spec = &spec.value();
    args.scope = &scope.value();
    args.mode = QuantMode::kPacked;
    args.pool = &pool;
    QuantizeReport report;
    Status s = RunZeroquantLkd(args, &report, &out.log);
    EXPECT_TRUE(s.ok()) << s.message();
    EXPECT_EQ(report.tensors.size(), 4u * weights->config.n_layer);
    EXPECT_EQ(report.distillation.size(), static_cast<size_t>(weights->config.n_layer));
  } else {
    auto report = QuantizeModel(weights.value(), spec.value(), scope.value(), QuantMode::kPacked, pool);
    EXPECT_TRUE(report.ok()) << report.message();
  }
  out.model = std::make_unique<GPT2>(std::move(weights).value());
  return out;
}

double MeanKld(const GPT2& fp32, const GPT2& candidate, const Fixture& f) {
  ThreadPool pool(2);
  PerplexityOptions options;
  options.ctx = 256;
  options.stride = 128;
  options.batch = 8;
  auto kl = CompareModels(fp32, candidate, f.eval_tokens, options, pool);
  EXPECT_TRUE(kl.ok()) << kl.message();
  return kl.ok() ? kl->kld_mean : 0.0;
}

// On one fixture: every block's distillation loss falls, and the mean KLD
// against fp32 on the first `eval_tokens` tokens of the held-out text (0 =
// all) is at least 30% below plain zeroquant:bits=4's.
void CheckFixture(const std::string& name, const std::string& lkd_spec, int64_t eval_tokens, int64_t n_windows) {
  SCOPED_TRACE(name + " " + lkd_spec);
  UseSingleThreadedBlas();
  const Fixture f = LoadFixture(name, eval_tokens, n_windows);
  auto fp32_weights = LoadCheckpoint(f.dir);
  ASSERT_TRUE(fp32_weights.ok()) << fp32_weights.message();
  const GPT2 fp32(std::move(fp32_weights).value());
  Quantized rtn = Quantize(f, "zeroquant:bits=4", 2);
  Quantized lkd = Quantize(f, lkd_spec, 2);
  for (const LkdBlockLog& b : lkd.log) {
    std::printf("%s h.%lld: block MSE %.6g -> %.6g (%.2fx)\n", name.c_str(), static_cast<long long>(b.block),
                b.loss_before, b.loss_after, b.loss_before / b.loss_after);
    EXPECT_LT(b.loss_after, b.loss_before) << "block " << b.block;
  }
  const double kld_rtn = MeanKld(fp32, *rtn.model, f), kld_lkd = MeanKld(fp32, *lkd.model, f);
  std::printf("%s, %s (%zu eval tokens, %lld windows): mean KLD zeroquant:bits=4 %.6g, with lkd %.6g (%.2fx lower)\n",
              name.c_str(), lkd_spec.c_str(), f.eval_tokens.size(), static_cast<long long>(n_windows), kld_rtn,
              kld_lkd, kld_rtn / kld_lkd);
  EXPECT_LT(kld_lkd, 0.7 * kld_rtn);
}

bool SlowTestsWanted() {
  const char* v = std::getenv("GPT2Q_SLOW_TESTS");
  return v != nullptr && std::string(v) == "1";
}

// A short distillation (20 steps at 5× the default rate, 16 windows, 2,048
// evaluation tokens) on the outlier fixture, where ZeroQuant's 4-bit error is
// largest: the regression check that fits every `make test` (measured: KLD
// 3.1× lower). On the plain fixture so short a run is not enough (1.2×
// lower), so the plain fixture's check is the slow test below.
TEST(ZeroquantLkdTest, ShortDistillationLowersKldOnTheOutlierFixture) {
  CheckFixture("gpt2-tiny-shakespeare-outliers", "zeroquant:bits=4,lkd=1,lkd_steps=20,lkd_lr=0.0005", 2048, 16);
}

// The default options with the default calibration (128 windows of 256
// tokens) on all 36,080 tokens of the evaluation text, as the reference
// measured: 30 minutes for both fixtures on the shared 2-core machine under
// load, so with GPT2Q_SLOW_TESTS=1 only. Measured: KLD 3.7× lower (plain),
// 5.6× lower (outliers).
TEST(ZeroquantLkdTest, DefaultsOnTheWholeEvaluationText) {
  if (!SlowTestsWanted()) GTEST_SKIP() << "slow: set GPT2Q_SLOW_TESTS=1 to run";
  CheckFixture("gpt2-tiny-shakespeare", "zeroquant:bits=4,lkd=1", 0, 128);
  CheckFixture("gpt2-tiny-shakespeare-outliers", "zeroquant:bits=4,lkd=1", 0, 128);
}

std::vector<std::vector<float>> Linears(const GPT2& model) {
  ThreadPool pool(1);
  std::vector<std::vector<float>> out;
  for (const BlockWeights& b : model.weights().blocks) {
    for (int k = 0; k < kBlockLinears; ++k) out.push_back(DequantizeAll(*BlockLinearMatrix(b, static_cast<BlockLinear>(k)), pool));
  }
  return out;
}

TEST(ZeroquantLkdTest, BitIdenticalTwiceAndOnOneThread) {
  UseSingleThreadedBlas();
  const Fixture f = LoadFixture("gpt2-tiny-shakespeare", 0, 4);
  const std::string spec = "zeroquant:bits=4,lkd=1,lkd_steps=4,lkd_batch=3";
  Quantized a = Quantize(f, spec, 2), b = Quantize(f, spec, 2), one = Quantize(f, spec, 1);
  EXPECT_EQ(Linears(*a.model), Linears(*b.model));
  EXPECT_EQ(Linears(*a.model), Linears(*one.model));
  ASSERT_EQ(a.log.size(), one.log.size());
  for (size_t i = 0; i < a.log.size(); ++i) {
    EXPECT_EQ(a.log[i].step_loss, one.log[i].step_loss);
    EXPECT_EQ(a.log[i].loss_after, b.log[i].loss_after);
  }
}

TEST(ZeroquantLkdTest, Options) {
  auto plain = ParseQuantSpec("zeroquant:bits=4");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(NeedsCalibration(*plain));
  EXPECT_EQ(plain->ToString(), "zeroquant:group=64,bits=4");  // the lkd options only with lkd=1
  auto lkd = ParseQuantSpec("zeroquant:bits=4,lkd=1,lkd_steps=20");
  ASSERT_TRUE(lkd.ok()) << lkd.message();
  EXPECT_TRUE(NeedsCalibration(*lkd));
  EXPECT_EQ(lkd->ToString(), "zeroquant:group=64,bits=4,lkd=1,lkd_steps=20,lkd_lr=0.0001,lkd_batch=4");
  for (const char* bad : {"zeroquant:lkd_steps=20", "zeroquant:lkd=2", "zeroquant:lkd=1,lkd_steps=0",
                          "zeroquant:lkd=1,lkd_steps=2.5", "zeroquant:lkd=1,lkd_batch=0", "zeroquant:lkd=1,lkd_lr=0",
                          "zeroquant:lkd=1,lkd_lr=nan"}) {
    auto r = ParseQuantSpec(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
  EXPECT_NE(ParseQuantSpec("zeroquant:lkd_lr=0.001").message().find("only with lkd=1"), std::string::npos);
  // More windows per step than the calibration has: an error naming both.
  const Fixture f = LoadFixture("gpt2-tiny-shakespeare", 0, 2);
  ThreadPool pool(1);
  auto weights = LoadCheckpoint(f.dir);
  ASSERT_TRUE(weights.ok());
  auto spec = ParseQuantSpec("zeroquant:bits=4,lkd=1,lkd_batch=4");
  auto scope = MakeScope("no-lm-head", {}, {}, weights->config.n_layer);
  auto r = QuantizeModel(*weights, *spec, *scope, QuantMode::kPacked, pool, &f.windows);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("lkd_batch=4"), std::string::npos) << r.message();
  EXPECT_NE(r.message().find("2 windows"), std::string::npos) << r.message();
  auto none = QuantizeModel(*weights, *spec, *scope, QuantMode::kPacked, pool, nullptr);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.message().find("calibration"), std::string::npos) << none.message();
}

}  // namespace
}  // namespace gpt2q
