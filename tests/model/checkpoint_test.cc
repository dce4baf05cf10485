// Checkpoint loading: the fixture, F16/BF16/bare-name copies, synthetic shapes, bad folders.
#include "model/checkpoint.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "../io/bad_inputs.h"
#include "formats/format.h"
#include "formats/fp32_matrix.h"
#include "model/synthetic.h"

namespace gpt2q {
namespace {

const std::string kFixture = GPT2Q_DATA_DIR "/gpt2-tiny-shakespeare";

TEST(Checkpoint, LoadsFixtureInPlaceWithTiedHead) {
  auto w = LoadCheckpoint(kFixture);
  ASSERT_TRUE(w.ok()) << w.message();
  const GPT2Config& c = w->config;
  EXPECT_EQ(c.n_vocab, 50257);
  EXPECT_EQ(c.n_ctx, 256);
  EXPECT_EQ(c.n_embd, 128);
  EXPECT_EQ(c.n_layer, 4);
  EXPECT_EQ(c.n_head, 4);
  EXPECT_EQ(c.n_inner, 512);
  EXPECT_FLOAT_EQ(c.layer_norm_epsilon, 1e-5f);
  EXPECT_TRUE(w->head_tied());
  ASSERT_EQ(w->blocks.size(), 4u);
  int matrices = 0, vectors = 0;
  ForEachMatrix(*w, [&](const std::string&, ParamKind, std::shared_ptr<WeightMatrix>& m) {
    ASSERT_NE(m, nullptr);
    ++matrices;
  });
  ForEachVector(*w, [&](const std::string&, ParamKind, FloatSpan& s) {
    ASSERT_NE(s.data, nullptr);
    ++vectors;
  });
  EXPECT_EQ(matrices + vectors, 52);  // the file's 52 tensors, head tied
  EXPECT_EQ(w->blocks[0].attn_c_attn->rows(), 384);
  EXPECT_EQ(w->blocks[0].attn_c_attn->cols(), 128);
  // F32 is used in place: the weight points into the mapped file.
  auto file = SafetensorsFile::Open(kFixture + "/model.safetensors");
  ASSERT_TRUE(file.ok());
  auto* fc = dynamic_cast<Fp32Matrix*>(w->blocks[2].mlp_c_fc.get());
  ASSERT_NE(fc, nullptr);
  EXPECT_EQ(fc->layout(), Fp32Layout::kInOut);
  const TensorView* t = (*file)->Find("transformer.h.2.mlp.c_fc.weight");
  EXPECT_EQ(std::memcmp(fc->data(), t->data, t->nbytes), 0);
  // Conv1D [in, out]: row o of W is column o of the stored tensor.
  std::vector<float> row(128);
  fc->DequantizeRow(5, row.data());
  const float* stored = reinterpret_cast<const float*>(t->data);
  for (int i = 0; i < 128; ++i) ASSERT_EQ(row[i], stored[i * 512 + 5]);
}

// Returns the largest |a - b| / max(|a|, 2^-14) over every parameter.
double MaxRelativeError(ModelWeights& a, ModelWeights& b) {
  std::vector<std::pair<std::string, std::vector<float>>> va;
  auto dump = [](ModelWeights& w) {
    std::vector<std::vector<float>> out;
    ForEachMatrix(w, [&](const std::string&, ParamKind, std::shared_ptr<WeightMatrix>& m) {
      std::vector<float> v(m->rows() * m->cols());
      for (int64_t r = 0; r < m->rows(); ++r) m->DequantizeRow(r, v.data() + r * m->cols());
      out.push_back(std::move(v));
    });
    ForEachVector(w, [&](const std::string&, ParamKind, FloatSpan& s) {
      out.emplace_back(s.data, s.data + s.size);
    });
    return out;
  };
  auto x = dump(a), y = dump(b);
  EXPECT_EQ(x.size(), y.size());
  double worst = 0;
  for (size_t t = 0; t < x.size() && t < y.size(); ++t) {
    EXPECT_EQ(x[t].size(), y[t].size());
    for (size_t i = 0; i < x[t].size(); ++i) {
      double denom = std::max(std::fabs(double(x[t][i])), 0x1p-14);
      worst = std::max(worst, std::fabs(double(x[t][i]) - y[t][i]) / denom);
    }
  }
  return worst;
}

TEST(Checkpoint, WrittenCopiesLoadBackAndAgree) {
  auto original = LoadCheckpoint(kFixture);
  ASSERT_TRUE(original.ok()) << original.message();
  struct Case {
    Dtype dtype;
    bool prefixed;
    double tolerance;
  };
  // fp16 relative 2^-11 holds for normals; the 2^-14 floor covers the subnormal range.
  for (Case c : {Case{Dtype::kF32, false, 0.0}, Case{Dtype::kF16, true, 0x1p-11},
                 Case{Dtype::kBF16, false, 0x1p-8}}) {
    const std::string dir = testing::MakeTempDir("ckpt");
    ASSERT_TRUE(SaveCheckpoint(*original, dir, c.dtype, c.prefixed).ok());
    auto file = SafetensorsFile::Open(dir + "/model.safetensors");
    ASSERT_TRUE(file.ok());
    EXPECT_EQ((*file)->tensors().size(), 52u);
    EXPECT_EQ((*file)->tensors()[0].dtype, c.dtype);
    EXPECT_EQ((*file)->Find("transformer.wte.weight") != nullptr, c.prefixed);
    auto copy = LoadCheckpoint(dir);
    ASSERT_TRUE(copy.ok()) << copy.message();
    EXPECT_TRUE(copy->head_tied());
    EXPECT_EQ(copy->config.n_ctx, 256);
    EXPECT_FLOAT_EQ(copy->config.layer_norm_epsilon, 1e-5f);
    EXPECT_LE(MaxRelativeError(*original, *copy), c.tolerance) << DtypeName(c.dtype);
  }
}

TEST(Checkpoint, UntiedHeadIsSavedAndLoaded) {
  ThreadPool pool(1);
  ModelWeights w = MakeSyntheticModel(testing::TinyConfig(), 7, pool);
  ModelWeights other = MakeSyntheticModel(testing::TinyConfig(), 8, pool);
  w.lm_head = other.wte;  // a different head
  w.owners.insert(w.owners.end(), other.owners.begin(), other.owners.end());
  const std::string dir = testing::MakeTempDir("ckpt");
  ASSERT_TRUE(SaveCheckpoint(w, dir, Dtype::kF32, true).ok());
  auto loaded = LoadCheckpoint(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  EXPECT_FALSE(loaded->head_tied());
  EXPECT_EQ(MaxRelativeError(w, *loaded), 0.0);
  // A head byte-identical to wte is tied on load.
  ModelWeights same = MakeSyntheticModel(testing::TinyConfig(), 7, pool);
  testing::RewriteTensors(dir, [](std::vector<TensorToWrite>& t) {
    TensorToWrite* head = testing::FindTensor(t, "lm_head.weight");
    head->data = testing::FindTensor(t, "transformer.wte.weight")->data;
  });
  loaded = LoadCheckpoint(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  EXPECT_TRUE(loaded->head_tied());
}

TEST(Checkpoint, SavingOverTheLoadedFolderKeepsTheMappedWeightsValid) {
  const std::string dir = testing::MakeTempDir("ckpt");
  testing::WriteTinyCheckpoint(dir);
  auto w = LoadCheckpoint(dir);
  ASSERT_TRUE(w.ok()) << w.message();
  // F32 weights point into the mapping of dir/model.safetensors, which is replaced.
  ASSERT_TRUE(SaveCheckpoint(*w, dir, Dtype::kF32, false).ok());
  auto again = LoadCheckpoint(dir);
  ASSERT_TRUE(again.ok()) << again.message();
  EXPECT_EQ(MaxRelativeError(*w, *again), 0.0);
  EXPECT_FALSE(std::filesystem::exists(dir + "/model.safetensors.tmp"));
}

TEST(Checkpoint, IgnoresAttentionMaskBuffers) {
  const std::string dir = testing::MakeTempDir("ckpt");
  testing::WriteTinyCheckpoint(dir);
  static const uint8_t mask[16 * 16] = {};
  testing::RewriteTensors(dir, [](std::vector<TensorToWrite>& t) {
    t.push_back({"transformer.h.0.attn.bias", Dtype::kU8, {1, 1, 16, 16}, mask, 256});
    t.push_back({"h.0.attn.masked_bias", Dtype::kU8, {1}, mask, 1});
  });
  auto w = LoadCheckpoint(dir);
  EXPECT_TRUE(w.ok()) << w.message();
}

TEST(Checkpoint, EveryBadInputFailsWithItsMessage) {
  for (const testing::BadInput& bad : testing::BadInputs()) {
    const std::string dir = testing::MakeTempDir("bad_" + bad.name);
    const std::string fragment = bad.write(dir);
    auto w = LoadCheckpoint(dir);
    ASSERT_FALSE(w.ok()) << bad.name;
    EXPECT_NE(w.message().find(dir + "/"), std::string::npos) << bad.name << ": " << w.message();
    EXPECT_NE(w.message().find(fragment), std::string::npos)
        << bad.name << ": expected '" << fragment << "' in: " << w.message();
  }
}

// LoadOptions::allow_nonfinite loads what the checks above refuse, and lists
// each tensor with its count and first index.
TEST(Checkpoint, AllowNonfiniteLoadsBrokenWeightsAndListsThem) {
  for (const testing::BadInput& bad : testing::BadInputs()) {
    if (bad.name.find("nan") == std::string::npos && bad.name.find("inf") == std::string::npos) {
      continue;
    }
    SCOPED_TRACE(bad.name);
    const std::string dir = testing::MakeTempDir("allow_" + bad.name);
    bad.write(dir);
    std::vector<NonFiniteTensor> found;
    LoadOptions options;
    options.allow_nonfinite = true;
    auto w = LoadCheckpoint(dir, options, &found);
    ASSERT_TRUE(w.ok()) << w.message();
    ASSERT_EQ(found.size(), 1u);
    EXPECT_GE(found[0].count, 1);
    EXPECT_GT(found[0].numel, found[0].first);
    EXPECT_NE(bad.write(dir).find("tensor '" + found[0].name + "' has " +
                                  std::to_string(found[0].count) + " non-finite"),
              std::string::npos);
  }
  // The NaN is really there: a loaded F32 weight is the file's bytes.
  const std::string dir = testing::MakeTempDir("allow_values");
  testing::WriteTinyCheckpoint(dir);
  testing::PokeFloat(dir + "/model.safetensors", "transformer.h.0.mlp.c_fc.weight", 0,
                     std::numeric_limits<float>::infinity());
  LoadOptions options;
  options.allow_nonfinite = true;
  auto w = LoadCheckpoint(dir, options);  // no list wanted
  ASSERT_TRUE(w.ok()) << w.message();
  std::vector<float> row(8);
  w->blocks[0].mlp_c_fc->DequantizeRow(0, row.data());  // Conv1D [in, out]: element 0 is W[0][0]
  EXPECT_TRUE(std::isinf(row[0]));
}

// Quantized checkpoints whose parts are all finite load, for every format.
TEST(Checkpoint, FiniteQuantizedCheckpointsOfEveryFormatLoad) {
  GPT2Config config = testing::TinyConfig();
  config.n_vocab = 64;
  config.eos_token_id = 63;
  config.n_embd = config.n_inner = 256;  // rows long enough for 256-value super-blocks
  for (const FormatTraits& f : FormatTable()) {
    ASSERT_NE(f.load, nullptr);
    SCOPED_TRACE(f.name);
    const std::string dir = testing::MakeTempDir("q_" + std::string(f.name));
    testing::WriteTinyQuantizedCheckpoint(dir, std::string(f.name), config);
    std::vector<NonFiniteTensor> found;
    auto w = LoadCheckpoint(dir, {}, &found);
    ASSERT_TRUE(w.ok()) << w.message();
    EXPECT_TRUE(found.empty());
    EXPECT_EQ(w->blocks[0].mlp_c_fc->format(), f.name);
  }
}

TEST(Checkpoint, MissingFolderNamesTheFile) {
  auto w = LoadCheckpoint("/nonexistent/model");
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.message().find("/nonexistent/model/config.json"), std::string::npos) << w.message();
}

TEST(Synthetic, Gpt2HasTheRealParameterCountAndShapes) {
  auto config = PresetConfig("gpt2");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->ParameterCount(), 124439808);
  ThreadPool pool(2);
  ModelWeights w = MakeSyntheticModel(*config, 3, pool);
  int64_t count = 0;
  ForEachMatrix(w, [&](const std::string&, ParamKind, std::shared_ptr<WeightMatrix>& m) {
    count += m->rows() * m->cols();
  });
  ForEachVector(w, [&](const std::string&, ParamKind, FloatSpan& s) { count += s.size; });
  EXPECT_EQ(count, 124439808);
  EXPECT_TRUE(w.head_tied());
  EXPECT_EQ(w.blocks[11].mlp_c_fc->rows(), 3072);
  EXPECT_EQ(w.blocks[11].mlp_c_fc->cols(), 768);
}

}  // namespace
}  // namespace gpt2q
