// GGUF in the gpt2q commands: loading a .gguf MODEL and --export gguf.
#include "gguf_app.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <fmt/core.h>

#include "io/gguf.h"
#include "model/gguf_checkpoint.h"
#include "model/gguf_export.h"

namespace gpt2q {
namespace fs = std::filesystem;

namespace {

Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.close();
  if (!out) return Status::Error(path + ": write failed");
  return OkStatus();
}

// The format llama-quantize stores a tensor in when `format` cannot tile its
// rows of `cols` values (llama-quant.cpp: Q4_K → Q5_0, Q6_K → Q8_0, then F16
// when the row is not whole blocks of the fallback either); "" when none.
std::string FallbackFormat(std::string_view format, int64_t cols) {
  std::string fallback = format == "q4_k" ? "q5_0" : format == "q6_k" ? "q8_0" : "";
  if (!fallback.empty() && cols % 32 != 0) fallback = "fp16";
  return fallback;
}

Result<std::unique_ptr<Tokenizer>> TokenizerOf(const GgufVocab& vocab, const std::string& path) {
  GPT2Q_ASSIGN_OR_RETURN(Tokenizer tokenizer,
                         Tokenizer::FromStrings(vocab.VocabJson(), vocab.MergesText(),
                                                path + " (tokenizer.ggml.tokens)", path + " (tokenizer.ggml.merges)"));
  return std::make_unique<Tokenizer>(std::move(tokenizer));
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> LoadGgufTokenizer(const std::string& path) {
  GPT2Q_ASSIGN_OR_RETURN(std::shared_ptr<GgufFile> file, GgufFile::Open(path));
  GPT2Q_ASSIGN_OR_RETURN(GgufVocab vocab, ReadGgufVocab(*file));
  return TokenizerOf(vocab, path);
}

bool IsGgufModelPath(const std::string& model) {
  std::error_code ec;
  return !model.empty() && fs::is_regular_file(model, ec);
}

Result<LoadedModel> LoadGgufModel(const ModelOptions& options, ThreadPool& pool) {
  LoadedModel loaded;
  loaded.name = loaded.dir = loaded.gguf = options.model;
  LoadOptions load_options;
  load_options.allow_nonfinite = options.allow_nonfinite;
  std::vector<NonFiniteTensor> nonfinite;
  GPT2Q_ASSIGN_OR_RETURN(GgufCheckpoint checkpoint, LoadGgufCheckpoint(options.model, load_options, &nonfinite));
  if (!nonfinite.empty()) {
    std::string list;
    for (const NonFiniteTensor& t : nonfinite) {
      list += fmt::format("{}{} ({} of {}, first at {})", list.empty() ? "" : ", ", t.name, t.count, t.numel,
                          t.first);
    }
    fmt::print(stderr, "warning: {}: {} tensor{} hold NaN or Inf values, loaded because of "
               "--allow-nonfinite; results will not be meaningful: {}\n",
               options.model, nonfinite.size(), nonfinite.size() == 1 ? "" : "s", list);
  }
  GPT2Q_ASSIGN_OR_RETURN(loaded.tokenizer, TokenizerOf(checkpoint.vocab, options.model));
  std::set<std::string> block_formats;
  ForEachMatrix(checkpoint.weights, [&](const std::string&, ParamKind, std::shared_ptr<WeightMatrix>& m) {
    if (m->format() != "fp32" && m->format() != "fp16") block_formats.insert(m->format());
  });
  if (!block_formats.empty()) {
    std::string quant;
    for (const std::string& f : block_formats) quant += (quant.empty() ? "" : "+") + f;
    loaded.recorded = QuantizedCheckpointInfo{quant, "gguf", "packed"};
  }
  loaded.model = std::make_unique<GPT2>(std::move(checkpoint.weights));
  return loaded;
}

Status WriteTokenizerFiles(const LoadedModel& loaded, const std::string& dir) {
  if (loaded.gguf.empty()) return CopyTokenizerFiles(loaded.dir, dir);
  GPT2Q_ASSIGN_OR_RETURN(std::shared_ptr<GgufFile> file, GgufFile::Open(loaded.gguf));
  GPT2Q_ASSIGN_OR_RETURN(GgufVocab vocab, ReadGgufVocab(*file));
  GPT2Q_RETURN_IF_ERROR(WriteFile(dir + "/vocab.json", vocab.VocabJson() + "\n"));
  return WriteFile(dir + "/merges.txt", vocab.MergesText());
}

Status ExportGguf(const QuantOptions& options, LoadedModel& loaded, AppliedQuantization& applied,
                  ThreadPool& pool, const std::string& path) {
  ModelWeights& w = loaded.model->mutable_weights();
  if (!options.quant.empty() && !applied.report.skipped.empty()) {
    GPT2Q_ASSIGN_OR_RETURN(QuantSpec spec, ParseQuantSpec(options.quant));
    GPT2Q_ASSIGN_OR_RETURN(Scope scope, MakeScope(options.scope, options.include, options.skip, w.config.n_layer));
    GPT2Q_ASSIGN_OR_RETURN(QuantMode mode, ParseQuantMode(applied.mode));
    std::map<std::string, std::shared_ptr<WeightMatrix>*> matrices;
    ForEachMatrix(w, [&](const std::string& name, ParamKind, std::shared_ptr<WeightMatrix>& m) {
      matrices[name] = &m;
    });
    matrices["wte.weight"] = &w.wte;
    matrices["lm_head.weight"] = &w.lm_head;
    std::vector<std::string> still_skipped;
    for (const std::string& name : applied.report.skipped) {
      auto it = matrices.find(name);
      const std::string fallback =
          it == matrices.end() ? "" : FallbackFormat(spec.method->format, (*it->second)->cols());
      if (fallback.empty()) {
        still_skipped.push_back(name);
        continue;
      }
      const bool tied = w.head_tied();
      std::shared_ptr<WeightMatrix>& target = *it->second;
      GPT2Q_ASSIGN_OR_RETURN(const FormatTraits* format, FindFormat(fallback));
      GPT2Q_ASSIGN_OR_RETURN(QuantizedTensor q, QuantizeTensor(name, DequantizeAll(*target, pool), target->rows(),
                                                               target->cols(), *format, {}, mode, pool));
      // A tied pair selected whole stays one matrix; one side alone unties.
      const bool both = tied && name == "wte.weight" && scope.Selects("lm_head.weight", ParamKind::kHead);
      target = q.matrix;
      if (both) w.lm_head = w.wte;
      applied.report.tensors.push_back(q.stats);
      const std::string left = name + " left in fp32";
      auto& notes = applied.report.notes;
      notes.erase(std::remove_if(notes.begin(), notes.end(),
                                 [&](const std::string& n) { return n.rfind(left, 0) == 0; }),
                  notes.end());
      notes.push_back(fmt::format("{} {} {}: its rows of {} values are not whole {}-value blocks of {} "
                                  "(llama-quantize's fallback)",
                                  name, mode == QuantMode::kSimulate ? "simulated with" : "stored as", fallback,
                                  q.matrix->cols(), 256, spec.method->format));
    }
    applied.report.skipped = still_skipped;
    applied.memory = ComputeMemory(w);
  }
  GPT2Q_RETURN_IF_ERROR(CheckGgufExportable(w, path));
  GgufVocab vocab;
  std::string name;
  if (!loaded.gguf.empty()) {
    GPT2Q_ASSIGN_OR_RETURN(std::shared_ptr<GgufFile> file, GgufFile::Open(loaded.gguf));
    GPT2Q_ASSIGN_OR_RETURN(vocab, ReadGgufVocab(*file));
    if (file->Find("general.name") != nullptr) {
      GPT2Q_ASSIGN_OR_RETURN(name, file->GetString("general.name"));
    }
    if (name.empty()) name = fs::path(loaded.gguf).stem().string();
  } else {
    GPT2Q_ASSIGN_OR_RETURN(vocab, ReadHfVocab(loaded.dir));
    name = loaded.name.rfind("synthetic:", 0) == 0 ? "synthetic-" + loaded.name.substr(10)
                                                   : fs::path(loaded.dir).lexically_normal().filename().string();
    if (name.empty()) name = fs::path(loaded.dir).lexically_normal().parent_path().filename().string();
  }
  return SaveGguf(w, vocab, name, path);
}

Result<std::vector<StoredTensorRow>> GgufTensorRows(const std::string& path) {
  GPT2Q_ASSIGN_OR_RETURN(std::shared_ptr<GgufFile> file, GgufFile::Open(path));
  std::vector<StoredTensorRow> rows;
  for (const GgufTensor& t : file->tensors()) {
    StoredTensorRow row;
    row.name = t.name;
    std::optional<GgmlTypeSize> size = GgmlTypeSizeOf(t.type);
    row.stored = size ? std::string(size->name) : std::to_string(t.type);
    std::optional<std::string_view> format = FormatOfGgmlType(t.type);
    // Vectors are read as fp32 whatever their type.
    row.format = t.ne.size() == 1 || t.name == "position_embd.weight" ? "fp32" : std::string(format.value_or("-"));
    row.shape.assign(t.ne.rbegin(), t.ne.rend());  // [rows, cols], as the other kinds print shapes
    row.bytes = t.nbytes;
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace gpt2q
