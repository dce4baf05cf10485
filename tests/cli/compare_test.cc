// gpt2q compare end to end on the shipped model: the files it writes, that its
// numbers are gpt2q perplexity's, histogram counts, and errors before any work.
#include <gtest/gtest.h>

#include <cmath>

#include "cli_runner.h"

namespace gpt2q {
namespace {

// A short run: two methods, the first 700 tokens (windows of 256 by 128).
class CompareTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    out_ = new fs::path(fs::temp_directory_path() / ("gpt2q_compare_test_" + std::to_string(getpid())));
    fs::remove_all(*out_);
    RunResult r = RunGpt2q("compare --methods absmax nf4:block=64 --max-tokens 700 --json --out '" +
                           out_->string() + "'");
    json_ = new nlohmann::json(ParseJson(r));
  }
  static void TearDownTestSuite() {
    fs::remove_all(*out_);
    delete out_;
    delete json_;
  }
  // Returns the ppl that `gpt2q perplexity ARGS --max-tokens 700 --json` prints.
  static double PerplexityOf(const std::string& args) {
    nlohmann::json j = ParseJson(RunGpt2q("perplexity --max-tokens 700 --json " + args));
    return j["ppl"].get<double>();
  }
  static const nlohmann::json& Row(const std::string& method_prefix) {
    for (const auto& row : (*json_)["results"]) {
      if (row["method"].get<std::string>().rfind(method_prefix, 0) == 0) return row;
    }
    static const nlohmann::json kMissing;
    ADD_FAILURE() << "no row for " << method_prefix;
    return kMissing;
  }
  static fs::path* out_;
  static nlohmann::json* json_;
};
fs::path* CompareTest::out_ = nullptr;
nlohmann::json* CompareTest::json_ = nullptr;

TEST_F(CompareTest, WritesEveryOutput) {
  for (const char* file : {"results.json", "results.csv", "results.md", "report.html", "samples.md",
                           "histograms.json", "figures/weights.png", "figures/weights.svg", "figures/bars-ppl.png",
                           "figures/bars-kld.png", "figures/bars-bytes.png", "figures/bars-speed.png",
                           "figures/sqnr.png", "figures/pareto.png"}) {
    EXPECT_TRUE(fs::exists(*out_ / file)) << file;
  }
  // results.json on disk is what --json printed, and follows the documented schema's required keys.
  nlohmann::json on_disk = nlohmann::json::parse(ReadAll(*out_ / "results.json"));
  EXPECT_EQ(on_disk["results"].size(), 3u);
  nlohmann::json schema =
      nlohmann::json::parse(ReadAll(fs::path(GPT2Q_DATA_DIR).parent_path() / "docs" / "results.schema.json"));
  for (const auto& key : schema["required"]) EXPECT_TRUE(on_disk.contains(key.get<std::string>())) << key;
  const auto& row_schema = schema["properties"]["results"]["items"];
  for (const auto& row : on_disk["results"]) {
    for (const auto& key : row_schema["required"]) EXPECT_TRUE(row.contains(key.get<std::string>())) << key;
  }
  // Speed, from the same run: every row's prefill next to fp32's in the same windows, and its decode.
  for (const auto& row : on_disk["results"]) {
    EXPECT_GT(row["prefill_tokens_per_s"].get<double>(), 0.0) << row["method"];
    EXPECT_GT(row["fp32_prefill_tokens_per_s"].get<double>(), 0.0) << row["method"];
    EXPECT_GT(row["decode_tokens_per_s"].get<double>(), 0.0) << row["method"];
    EXPECT_GT(row["decode_tokens"].get<int64_t>(), 0) << row["method"];
  }
  EXPECT_EQ(Row("fp32")["prefill_tokens_per_s"], Row("fp32")["fp32_prefill_tokens_per_s"]);
  // CSV: a header and one line per result.
  const std::string csv = ReadAll(*out_ / "results.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4);
}

TEST_F(CompareTest, Fp32RowIsGpt2qPerplexity) {
  EXPECT_DOUBLE_EQ(Row("fp32")["ppl"].get<double>(), PerplexityOf(""));
  EXPECT_EQ(Row("fp32")["kld"]["mean"].get<double>(), 0.0);
}

TEST_F(CompareTest, MethodRowsAreGpt2qPerplexityWithQuant) {
  EXPECT_NEAR(Row("absmax")["ppl"].get<double>(), PerplexityOf("--quant absmax"), 1e-9);
  EXPECT_NEAR(Row("nf4")["ppl"].get<double>(), PerplexityOf("--quant nf4:block=64"), 1e-9);
  EXPECT_GT(Row("nf4")["kld"]["mean"].get<double>(), 0.0);
  EXPECT_LT(Row("nf4")["weights_bytes"].get<int64_t>(), Row("absmax")["weights_bytes"].get<int64_t>());
}

TEST_F(CompareTest, SamplesAreGpt2qGenerateWithQuant) {
  // compare's defaults: top-k 30, max-length 50, seed 0, the same for every method.
  const nlohmann::json& sample = Row("nf4")["samples"][0];
  nlohmann::json g = ParseJson(RunGpt2q("generate --quant nf4:block=64 --prompt '" +
                                        sample["prompt"].get<std::string>() +
                                        "' --top-k 30 --max-length 50 --seed 0 --json"));
  EXPECT_EQ(g["text"], sample["text"]);
  EXPECT_EQ(g["quant"], "nf4:block=64,double=0");
  EXPECT_EQ(g["weights_bytes"], Row("nf4")["weights_bytes"]);
}

TEST_F(CompareTest, OneModelAtATimeGivesTheSameNumbers) {
  // The suite's run held both methods at once beside one fp32 pass per window;
  // --max-resident 0 evaluates each alone with its own fp32 pass, as before.
  const fs::path out = out_->string() + ".alone";
  nlohmann::json alone = ParseJson(RunGpt2q("compare --methods absmax nf4:block=64 --max-tokens 700 "
                                            "--max-resident 0 --json --out '" + out.string() + "'"));
  fs::remove_all(out);
  ASSERT_EQ(alone["results"].size(), (*json_)["results"].size());
  for (size_t i = 0; i < alone["results"].size(); ++i) {
    const nlohmann::json& a = alone["results"][i];
    const nlohmann::json& b = (*json_)["results"][i];
    SCOPED_TRACE(a["method"].get<std::string>());
    EXPECT_EQ(a["method"], b["method"]);
    for (const char* key : {"ppl", "loss", "ppl_stderr", "kld", "top1_agree", "rms_delta_p", "weights_bytes",
                            "samples", "per_tensor"}) {
      EXPECT_EQ(a[key], b[key]) << key;
    }
  }
}

TEST_F(CompareTest, HistogramCountsSumToTheWeightsPlotted) {
  nlohmann::json h = nlohmann::json::parse(ReadAll(*out_ / "histograms.json"));
  ASSERT_EQ(h.size(), 2u);
  // Scope linear on the shipped model: the tied embedding/head and 4 blocks' linear weights.
  const int64_t linear_weights = 50257 * 128 + 4 * (128 * 384 + 128 * 128 + 128 * 512 + 512 * 128);
  for (const auto& panel : h) {
    for (const char* side : {"original", "quantized"}) {
      int64_t sum = 0;
      for (const auto& c : panel[std::string(side) + "_counts"]) sum += c.get<int64_t>();
      EXPECT_EQ(sum, panel[std::string(side) + "_plotted"].get<int64_t>()) << side;
      EXPECT_EQ(panel[std::string(side) + "_total"].get<int64_t>(), linear_weights) << side;
      EXPECT_LE(sum, linear_weights);
    }
    EXPECT_EQ(panel["bin_edges"].size(), panel["original_counts"].size() + 1);
  }
}

TEST(HistCommand, OnePanelPerMethodWithCountsThatSum) {
  const fs::path out = fs::temp_directory_path() / ("gpt2q_hist_test_" + std::to_string(getpid()));
  fs::remove_all(out);
  nlohmann::json h = ParseJson(RunGpt2q("hist --methods absmax nf4 --scopes qkv linear --bins 40 --json --out '" +
                                        out.string() + "'"));
  EXPECT_TRUE(fs::exists(out / "weights.png"));
  EXPECT_TRUE(fs::exists(out / "weights.svg"));
  EXPECT_EQ(nlohmann::json::parse(ReadAll(out / "histograms.json")), h);
  ASSERT_EQ(h.size(), 2u);  // two methods, each on its first scope (qkv)
  const int64_t qkv_weights = 4 * 128 * 384;
  for (const auto& panel : h) {
    EXPECT_EQ(panel["original_counts"].size(), 40u);
    int64_t sum = 0;
    for (const auto& c : panel["quantized_counts"]) sum += c.get<int64_t>();
    EXPECT_EQ(sum, panel["quantized_plotted"].get<int64_t>());
    EXPECT_EQ(panel["quantized_total"].get<int64_t>(), qkv_weights);
  }
  fs::remove_all(out);
  // compare's evaluation options are not hist's: they are refused, not ignored.
  EXPECT_EQ(RunGpt2q("hist --text x.txt --out '" + out.string() + "'").exit_code, 2);
  EXPECT_FALSE(fs::exists(out));
}

TEST(CompareErrors, BadArgumentsFailBeforeAnyWork) {
  const fs::path out = fs::temp_directory_path() / ("gpt2q_compare_bad_" + std::to_string(getpid()));
  const fs::path empty = out.string() + ".empty.txt";
  const fs::path short_text = out.string() + ".short.txt";
  std::ofstream(empty).close();
  std::ofstream(short_text) << "Too short for one window.";
  const std::string o = " --out '" + out.string() + "'";
  struct Case {
    std::string args, message;
  };
  for (const Case& c : std::vector<Case>{
           {"--methods int3", "unknown quantization method 'int3'; valid methods: fp32, fp16, bf16, absmax"},
           {"--methods nf4:blok=2", "valid options: block, double"},
           {"--methods nf4 --scopes everything", "unknown scope 'everything'"},
           {"--text /nonexistent/text.txt", "/nonexistent/text.txt"},
           {"--text '" + empty.string() + "'", "the text is empty"},
           {"--text '" + short_text.string() + "'", "shorter than one window"},
           {"--sort colour", "colour"},
           {"--max-resident -1", "--max-resident -1 must be"}}) {
    RunResult r = RunGpt2q("compare " + c.args + o);
    EXPECT_EQ(r.exit_code, 1) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.args << "\n" << r.err;
    EXPECT_FALSE(fs::exists(out)) << "work started for " << c.args;
  }
  fs::remove(empty);
  fs::remove(short_text);
}

}  // namespace
}  // namespace gpt2q
