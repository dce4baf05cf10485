// gpt2q info: a model's configuration, parameter count, stored bytes per format
// and per tensor (as the file names and types them: a GGUF's own names).
#include <map>

#include <fmt/core.h>

#include "commands.h"
#include "gguf_app.h"
#include "model/weights.h"

namespace gpt2q {
namespace {

struct InfoArgs {
  CommonOptions common;
  ModelOptions model;
};

// Returns the tensors of `loaded` as its file stores them: a GGUF's listing,
// or the parameters with their Hugging Face names (matrices in their format,
// vectors fp32).
Result<std::vector<StoredTensorRow>> TensorRows(const LoadedModel& loaded, ModelWeights& weights) {
  if (!loaded.gguf.empty()) return GgufTensorRows(loaded.gguf);
  std::vector<StoredTensorRow> rows;
  ForEachMatrix(weights, [&](const std::string& name, ParamKind, std::shared_ptr<WeightMatrix>& m) {
    rows.push_back({name, "", m->format(), {m->rows(), m->cols()}, m->StoredBytes()});
  });
  ForEachVector(weights, [&](const std::string& name, ParamKind, FloatSpan& span) {
    rows.push_back({name, "", "fp32", {span.size}, span.size * static_cast<int64_t>(sizeof(float))});
  });
  return rows;
}

std::string DimsText(const std::vector<int64_t>& shape) {
  std::string s;
  for (int64_t d : shape) s += (s.empty() ? "" : "x") + std::to_string(d);
  return s;
}

Status RunInfo(const InfoArgs& args) {
  GPT2Q_ASSIGN_OR_RETURN(std::unique_ptr<ThreadPool> pool, MakePool(args.common));
  GPT2Q_ASSIGN_OR_RETURN(LoadedModel loaded, LoadModel(args.model, *pool));
  ModelWeights& weights = loaded.model->mutable_weights();
  const GPT2Config& c = weights.config;

  struct Tally {
    int64_t tensors = 0, params = 0, bytes = 0;
  };
  std::map<std::string, Tally> per_format;
  ForEachMatrix(weights, [&](const std::string&, ParamKind, std::shared_ptr<WeightMatrix>& m) {
    Tally& f = per_format[m->format()];
    ++f.tensors;
    f.params += m->rows() * m->cols();
    f.bytes += m->StoredBytes();
  });
  Tally vectors;
  ForEachVector(weights, [&](const std::string&, ParamKind, FloatSpan& span) {
    ++vectors.tensors;
    vectors.params += span.size;
    vectors.bytes += span.size * static_cast<int64_t>(sizeof(float));
  });
  int64_t total_bytes = vectors.bytes;
  for (const auto& [name, f] : per_format) total_bytes += f.bytes;
  const int64_t parameters = c.ParameterCount();
  GPT2Q_ASSIGN_OR_RETURN(std::vector<StoredTensorRow> tensor_rows, TensorRows(loaded, weights));

  // What a gpt2q quantized checkpoint records about itself; null for plain ones.
  nlohmann::json recorded;
  if (loaded.recorded) {
    recorded = {{"quant", loaded.recorded->quant}, {"scope", loaded.recorded->scope},
                {"mode", loaded.recorded->mode}};
  }

  if (args.common.json) {
    nlohmann::json formats = nlohmann::json::object();
    for (const auto& [name, f] : per_format) {
      formats[name] = {{"tensors", f.tensors}, {"parameters", f.params}, {"bytes", f.bytes}};
    }
    nlohmann::json tensors = nlohmann::json::array();
    for (const StoredTensorRow& t : tensor_rows) {
      tensors.push_back({{"name", t.name}, {"format", t.format}, {"shape", t.shape}, {"bytes", t.bytes},
                         {"stored_type", t.stored.empty() ? nlohmann::json() : nlohmann::json(t.stored)}});
    }
    PrintJson({{"model", loaded.name},
               {"config",
                {{"n_vocab", c.n_vocab}, {"n_ctx", c.n_ctx}, {"n_embd", c.n_embd},
                 {"n_layer", c.n_layer}, {"n_head", c.n_head}, {"n_inner", c.n_inner},
                 {"layer_norm_epsilon", c.layer_norm_epsilon}, {"eos_token_id", c.eos_token_id}}},
               {"parameters", parameters},
               {"head_tied", weights.head_tied()},
               {"recorded_quant", recorded},
               {"matrices", formats},
               {"vectors", {{"tensors", vectors.tensors}, {"parameters", vectors.params},
                            {"bytes", vectors.bytes}, {"format", "fp32"}}},
               {"weights_bytes", total_bytes},
               {"fp32_bytes", parameters * 4},
               {"file_kind", loaded.gguf.empty() ? "safetensors" : "gguf"},
               {"tensors", tensors},
               {"tokenizer_vocab", loaded.tokenizer->vocab_size()}});
    return OkStatus();
  }
  fmt::print("model        {}\n", loaded.name);
  fmt::print("config       n_vocab {}  n_ctx {}  n_embd {}  n_layer {}  n_head {}  n_inner {}  eps {}\n",
             c.n_vocab, c.n_ctx, c.n_embd, c.n_layer, c.n_head, c.n_inner, c.layer_norm_epsilon);
  fmt::print("parameters   {} ({:.1f} M)\n", parameters, parameters / 1e6);
  fmt::print("head         {}\n", weights.head_tied() ? "tied to wte" : "separate lm_head.weight");
  if (loaded.recorded) {
    fmt::print("quant        {} (scope {}, {} mode; recorded in the checkpoint)\n", loaded.recorded->quant,
               loaded.recorded->scope, loaded.recorded->mode);
  }
  fmt::print("tokenizer    {} tokens, eos {}\n", loaded.tokenizer->vocab_size(),
             loaded.tokenizer->eot_id());
  fmt::print("weights      {:<8} {:>8} {:>14} {:>14}\n", "format", "tensors", "parameters", "bytes");
  for (const auto& [name, f] : per_format) {
    fmt::print("             {:<8} {:>8} {:>14} {:>14}  ({})\n", name, f.tensors, f.params, f.bytes,
               FormatBytes(f.bytes));
  }
  fmt::print("             {:<8} {:>8} {:>14} {:>14}  ({}, biases/LayerNorms/wpe)\n", "fp32",
             vectors.tensors, vectors.params, vectors.bytes, FormatBytes(vectors.bytes));
  fmt::print("total        {} bytes ({}); fp32 would be {} bytes\n", total_bytes,
             FormatBytes(total_bytes), parameters * 4);
  fmt::print("tensors      {:<32} {:<10} {:<8} {:>14} {:>12}\n", "name", "format",
             loaded.gguf.empty() ? "" : "ggml", "shape", "bytes");
  for (const StoredTensorRow& t : tensor_rows) {
    fmt::print("             {:<32} {:<10} {:<8} {:>14} {:>12}\n", t.name, t.format, t.stored,
               DimsText(t.shape), t.bytes);
  }
  return OkStatus();
}

}  // namespace

Command AddInfoCommand(CLI::App& app) {
  auto args = std::make_shared<InfoArgs>();
  CLI::App* cmd = app.add_subcommand("info", "show a model's config, parameter count and weight bytes");
  AddModelOptions(cmd, &args->model);
  AddCommonOptions(cmd, &args->common);
  return {cmd, [args] { return RunInfo(*args); }};
}

}  // namespace gpt2q
