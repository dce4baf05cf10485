// Shared plumbing of the gpt2q subcommands (see common.h).
#include "common.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <vector>

#include <fmt/core.h>

#include "gguf_app.h"
#include "model/checkpoint.h"
#include "io/safetensors.h"
#include "model/config.h"
#include "model/hf_bnb_reader.h"
#include "model/synthetic.h"

namespace gpt2q {
namespace fs = std::filesystem;

void AddCommonOptions(CLI::App* cmd, CommonOptions* options) {
  cmd->add_flag("--json", options->json, "print a machine-readable result on stdout (nothing else)");
  cmd->add_option("--threads", options->threads, "worker threads (default: all cores)")
      ->capture_default_str();
}

Result<std::unique_ptr<ThreadPool>> MakePool(const CommonOptions& options) {
  if (options.threads < 1 || options.threads > 4096) {
    return Status::Error("--threads " + std::to_string(options.threads) + " must be in [1, 4096]");
  }
  return std::make_unique<ThreadPool>(options.threads);
}

namespace {

bool HasShippedModel(const fs::path& data_dir) {
  std::error_code ec;
  return fs::is_regular_file(data_dir / kShippedModel / "config.json", ec);
}

}  // namespace

Result<std::string> FindDataDir() {
  if (const char* env = std::getenv("GPT2Q_DATA_DIR"); env != nullptr && *env != '\0') {
    if (!HasShippedModel(env)) {
      return Status::Error(fmt::format("GPT2Q_DATA_DIR={} does not contain {}/config.json", env,
                                       kShippedModel));
    }
    return std::string(env);
  }
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return Status::Error("cannot locate the executable (/proc/self/exe): " + ec.message());
  for (fs::path dir = exe.parent_path(); !dir.empty(); dir = dir.parent_path()) {
    if (HasShippedModel(dir / "data")) return (dir / "data").string();
    if (dir == dir.root_path()) break;
  }
  return Status::Error(fmt::format(
      "cannot find data/{} in any folder above {}; set GPT2Q_DATA_DIR to the data folder or name a model",
      kShippedModel, exe.string()));
}

Result<std::string> ShippedTextPath() {
  GPT2Q_ASSIGN_OR_RETURN(std::string data_dir, FindDataDir());
  return (fs::path(data_dir) / kShippedText).string();
}

void AddModelOptions(CLI::App* cmd, ModelOptions* options) {
  auto* model = cmd->add_option("MODEL", options->model,
                                "Hugging Face model folder or GGUF file of architecture gpt2 (default: the "
                                "shipped gpt2-tiny-shakespeare)");
  auto* synthetic =
      cmd->add_option("--synthetic", options->synthetic,
                      "random weights with the shapes of gpt2|gpt2-medium|gpt2-large|gpt2-xl");
  model->excludes(synthetic);
  synthetic->excludes(model);
  auto* nonfinite = cmd->add_flag("--allow-nonfinite", options->allow_nonfinite,
                                  "load a model whose weights hold NaN or Inf (to study a broken "
                                  "model; a warning names them) instead of refusing it");
  nonfinite->excludes(synthetic);
  synthetic->excludes(nonfinite);
}

Result<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& dir) {
  std::string folder = dir;
  if (IsGgufModelPath(folder)) return LoadGgufTokenizer(folder);
  if (folder.empty()) {
    GPT2Q_ASSIGN_OR_RETURN(std::string data_dir, FindDataDir());
    folder = (fs::path(data_dir) / kShippedModel).string();
  }
  GPT2Q_ASSIGN_OR_RETURN(Tokenizer tokenizer,
                         Tokenizer::Load((fs::path(folder) / "vocab.json").string(),
                                         (fs::path(folder) / "merges.txt").string()));
  return std::make_unique<Tokenizer>(std::move(tokenizer));
}

Result<std::string> ModelInputDir(const ModelOptions& options) {
  if (options.synthetic.empty() && !options.model.empty()) return options.model;
  GPT2Q_ASSIGN_OR_RETURN(std::string data_dir, FindDataDir());
  return (fs::path(data_dir) / kShippedModel).string();
}

Result<std::vector<std::string>> ModelInputPaths(const ModelOptions& options) {
  GPT2Q_ASSIGN_OR_RETURN(std::string dir, ModelInputDir(options));
  std::vector<std::string> paths = {dir};
  if (options.synthetic.empty() && IsGgufModelPath(options.model)) return paths;
  for (const char* file : {"model.safetensors", "config.json", "vocab.json", "merges.txt"}) {
    paths.push_back((fs::path(dir) / file).string());
  }
  return paths;
}

Result<LoadedModel> LoadModel(const ModelOptions& options, ThreadPool& pool) {
  LoadedModel loaded;
  GPT2Q_ASSIGN_OR_RETURN(loaded.dir, ModelInputDir(options));
  if (!options.synthetic.empty()) {
    GPT2Q_ASSIGN_OR_RETURN(GPT2Config config, PresetConfig(options.synthetic));
    loaded.name = "synthetic:" + options.synthetic;
    loaded.model = std::make_unique<GPT2>(MakeSyntheticModel(config, kSyntheticSeed, pool));
    GPT2Q_ASSIGN_OR_RETURN(loaded.tokenizer, LoadTokenizer(loaded.dir));
    return loaded;
  }
  loaded.shipped = options.model.empty();
  if (IsGgufModelPath(options.model)) return LoadGgufModel(options, pool);
  std::error_code ec;
  if (!fs::is_directory(loaded.dir, ec)) {
    return Status::Error(loaded.dir + ": not a model folder (expected a directory with config.json, "
                                      "model.safetensors, vocab.json and merges.txt, or a .gguf file)");
  }
  loaded.name = loaded.dir;
  LoadOptions load_options;
  load_options.allow_nonfinite = options.allow_nonfinite;
  std::vector<NonFiniteTensor> nonfinite;
  GPT2Q_ASSIGN_OR_RETURN(ModelWeights weights, LoadCheckpoint(loaded.dir, load_options, &nonfinite));
  if (!nonfinite.empty()) {
    std::string list;
    for (const NonFiniteTensor& t : nonfinite) {
      list += fmt::format("{}{} ({} of {}, first at {})", list.empty() ? "" : ", ", t.name, t.count,
                          t.numel, t.first);
    }
    fmt::print(stderr, "warning: {}: {} tensor{} hold NaN or Inf values, loaded because of "
               "--allow-nonfinite; results will not be meaningful: {}\n",
               loaded.dir, nonfinite.size(), nonfinite.size() == 1 ? "" : "s", list);
  }
  {
    // The header again, for the labels: what the checkpoint says it holds.
    GPT2Q_ASSIGN_OR_RETURN(std::shared_ptr<SafetensorsFile> file,
                           SafetensorsFile::Open((fs::path(loaded.dir) / "model.safetensors").string()));
    GPT2Q_ASSIGN_OR_RETURN(loaded.recorded, ReadQuantizedCheckpointInfo(*file));
  }
  if (!loaded.recorded) {  // a transformers + bitsandbytes folder records its quantization_config
    GPT2Q_ASSIGN_OR_RETURN(loaded.recorded,
                           HfBnbCheckpointInfo((fs::path(loaded.dir) / "config.json").string(), weights));
  }
  GPT2Q_ASSIGN_OR_RETURN(loaded.tokenizer, LoadTokenizer(loaded.dir));
  if (loaded.tokenizer->vocab_size() > weights.config.n_vocab) {
    return Status::Error(fmt::format("{}: vocab.json has {} tokens but config.json vocab_size is {}",
                                     loaded.dir, loaded.tokenizer->vocab_size(),
                                     weights.config.n_vocab));
  }
  loaded.model = std::make_unique<GPT2>(std::move(weights));
  return loaded;
}

void PrintJson(const nlohmann::json& value) {
  // Generated text may end inside a UTF-8 character: replace, never throw.
  fmt::print("{}\n", value.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
}

std::string FormatBytes(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, units[unit]);
}

}  // namespace gpt2q
