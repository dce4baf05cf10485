// Quantized checkpoints: writing each matrix's parts with its format in the
// metadata, and reading the metadata back for LoadCheckpoint.
#include "model/quantized_checkpoint.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "formats/fp32_matrix.h"
#include "model/checkpoint.h"

namespace gpt2q {
namespace {

constexpr char kFormatKey[] = "gpt2q.format.";
constexpr char kParamsKey[] = "gpt2q.params.";
constexpr char kShapeKey[] = "gpt2q.shape.";

// Returns true if `m` is fp32 in the layout a plain checkpoint gives it
// (Conv1D [in, out] for linear layers, [rows, cols] for the embedding/head).
bool IsPlainFp32(const WeightMatrix& m, ParamKind kind) {
  const auto* fp32 = dynamic_cast<const Fp32Matrix*>(&m);
  if (fp32 == nullptr) return false;
  return fp32->layout() == (kind == ParamKind::kLinear ? Fp32Layout::kInOut : Fp32Layout::kOutIn);
}

Status WriteConfig(const GPT2Config& c, bool tied, const std::string& dir) {
  nlohmann::ordered_json config = nlohmann::ordered_json::parse(ConfigToJson(c));
  config["tie_word_embeddings"] = tied;
  config["torch_dtype"] = "float32";
  const std::string path = dir + "/config.json";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return Status::Error(path + ": cannot create: " + std::strerror(errno));
  const std::string text = config.dump(2) + "\n";
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) return Status::Error(path + ": write failed: " + std::strerror(errno));
  return OkStatus();
}

Result<std::pair<int64_t, int64_t>> ParseShape(const std::string& where, const std::string& text) {
  const size_t comma = text.find(',');
  char* end1 = nullptr;
  char* end2 = nullptr;
  if (comma != std::string::npos) {
    const std::string a = text.substr(0, comma), b = text.substr(comma + 1);
    const long long rows = std::strtoll(a.c_str(), &end1, 10);
    const long long cols = std::strtoll(b.c_str(), &end2, 10);
    if (!a.empty() && !b.empty() && *end1 == '\0' && *end2 == '\0' && rows > 0 && cols > 0) {
      return std::make_pair(static_cast<int64_t>(rows), static_cast<int64_t>(cols));
    }
  }
  return Status::Error(where + ": expected 'rows,cols' with positive integers, got '" + text + "'");
}

}  // namespace

Status SaveQuantizedCheckpoint(const ModelWeights& weights, const std::string& dir,
                               const QuantizedCheckpointInfo& info) {
  GPT2Q_RETURN_IF_ERROR(PrepareCheckpointDir(weights, dir));
  const GPT2Config& c = weights.config;
  ModelWeights view = weights;  // shallow: ForEach* need a mutable model
  std::map<std::string, std::string> metadata = {{"format", "pt"},
                                                 {"gpt2q.version", kQuantizedCheckpointVersion},
                                                 {"gpt2q.quant", info.quant},
                                                 {"gpt2q.scope", info.scope},
                                                 {"gpt2q.mode", info.mode},
                                                 {"gpt2q.tied", view.head_tied() ? "1" : "0"}};
  std::vector<TensorToWrite> tensors;
  std::vector<StoredMatrix> stored;  // keeps the parts' bytes alive until written
  stored.reserve(static_cast<size_t>(4 * c.n_layer + 2));
  Status status;
  ForEachMatrix(view, [&](const std::string& name, ParamKind kind, std::shared_ptr<WeightMatrix>& m) {
    if (!status.ok()) return;
    if (m == nullptr) {
      status = Status::Error(dir + ": parameter '" + name + "' is missing");
      return;
    }
    if (IsPlainFp32(*m, kind)) {
      const auto& fp32 = static_cast<const Fp32Matrix&>(*m);
      TensorToWrite t;
      t.name = name;
      t.shape = kind == ParamKind::kLinear ? std::vector<int64_t>{m->cols(), m->rows()}
                                           : std::vector<int64_t>{m->rows(), m->cols()};
      t.data = fp32.data();
      t.nbytes = m->rows() * m->cols() * 4;
      tensors.push_back(std::move(t));
      return;
    }
    metadata[kFormatKey + name] = m->format();
    metadata[kShapeKey + name] = std::to_string(m->rows()) + "," + std::to_string(m->cols());
    StoredMatrix& s = stored.emplace_back(m->Store());
    metadata[kParamsKey + name] = ParamsToText(s.params);
    for (const StoredPart& part : s.parts) {
      std::optional<Dtype> dtype = ParseDtype(part.dtype);
      if (!dtype) {
        status = Status::Error(dir + ": tensor '" + name + "." + part.suffix + "': format " +
                               m->format() + " gave unknown dtype '" + part.dtype + "'");
        return;
      }
      tensors.push_back({name + "." + part.suffix, *dtype, part.shape, part.bytes.data(),
                         static_cast<int64_t>(part.bytes.size())});
    }
  });
  GPT2Q_RETURN_IF_ERROR(status);
  ForEachVector(view, [&](const std::string& name, ParamKind kind, FloatSpan& span) {
    TensorToWrite t;
    t.name = name;
    t.shape = kind == ParamKind::kPosition ? std::vector<int64_t>{c.n_ctx, c.n_embd}
                                           : std::vector<int64_t>{span.size};
    t.data = span.data;
    t.nbytes = span.size * 4;
    tensors.push_back(std::move(t));
  });
  GPT2Q_RETURN_IF_ERROR(WriteSafetensors(dir + "/model.safetensors", tensors, metadata));
  return WriteConfig(c, view.head_tied(), dir);
}

Result<std::optional<QuantizedCheckpointInfo>> ReadQuantizedCheckpointInfo(const SafetensorsFile& file) {
  const auto& meta = file.metadata();
  auto version = meta.find("gpt2q.version");
  if (version == meta.end()) return std::optional<QuantizedCheckpointInfo>();
  if (version->second != kQuantizedCheckpointVersion) {
    return Status::Error(file.path() + ": metadata gpt2q.version: expected '" +
                         std::string(kQuantizedCheckpointVersion) + "', got '" + version->second + "'");
  }
  QuantizedCheckpointInfo info;
  for (auto [key, field] : {std::pair<const char*, std::string*>{"gpt2q.quant", &info.quant},
                            {"gpt2q.scope", &info.scope},
                            {"gpt2q.mode", &info.mode}}) {
    auto it = meta.find(key);
    if (it == meta.end() || it->second.empty()) {
      return Status::Error(file.path() + ": metadata " + key +
                           ": missing (expected it beside gpt2q.version in a gpt2q quantized checkpoint)");
    }
    *field = it->second;
  }
  return std::optional<QuantizedCheckpointInfo>(std::move(info));
}

Result<QuantizedTensors> ReadQuantizedTensors(const SafetensorsFile& file) {
  QuantizedTensors out;
  const auto& meta = file.metadata();
  auto version = meta.find("gpt2q.version");
  if (version == meta.end()) return out;
  if (version->second != kQuantizedCheckpointVersion) {
    return Status::Error(file.path() + ": metadata gpt2q.version: expected '" +
                         std::string(kQuantizedCheckpointVersion) + "', got '" + version->second + "'");
  }
  for (const auto& [key, value] : meta) {
    if (key.rfind(kFormatKey, 0) != 0) continue;
    const std::string name = key.substr(sizeof(kFormatKey) - 1);
    const std::string where = file.path() + ": tensor '" + name + "'";
    StoredMatrixEntry entry;
    Result<const FormatTraits*> format = FindFormat(value);
    if (!format.ok()) return Status::Error(where + ": metadata " + key + ": " + format.message());
    entry.format = *format;
    auto params = meta.find(kParamsKey + name);
    auto shape = meta.find(kShapeKey + name);
    if (params == meta.end() || shape == meta.end()) {
      return Status::Error(where + ": metadata has " + key + " but not " +
                           (params == meta.end() ? kParamsKey : kShapeKey) + name);
    }
    GPT2Q_ASSIGN_OR_RETURN(entry.params, ParamsFromText(where + ": metadata " + params->first, params->second));
    GPT2Q_ASSIGN_OR_RETURN(auto rows_cols, ParseShape(where + ": metadata " + shape->first, shape->second));
    entry.rows = rows_cols.first;
    entry.cols = rows_cols.second;
    entry.parts.where = where;
    const std::string prefix = name + ".";
    for (const TensorView& t : file.tensors()) {
      if (t.name.rfind(prefix, 0) != 0) continue;
      entry.parts.parts[t.name.substr(prefix.size())] =
          StoredPartView{DtypeName(t.dtype), t.shape, t.data, t.nbytes};
      out.part_names.insert(t.name);
    }
    if (entry.parts.parts.empty()) {
      return Status::Error(where + ": metadata says format " + value + " but the file has no '" +
                           prefix + "*' tensors");
    }
    out.matrices.emplace(name, std::move(entry));
  }
  for (const auto& [key, value] : meta) {
    for (const char* k : {kParamsKey, kShapeKey}) {
      if (key.rfind(k, 0) == 0 && out.matrices.count(key.substr(std::strlen(k))) == 0) {
        return Status::Error(file.path() + ": metadata " + key + " names no stored matrix (no " +
                             kFormatKey + key.substr(std::strlen(k)) + ")");
      }
    }
  }
  return out;
}

Result<std::shared_ptr<WeightMatrix>> LoadStoredMatrix(const std::string& name,
                                                       const StoredMatrixEntry& entry,
                                                       int64_t rows, int64_t cols) {
  if (entry.rows != rows || entry.cols != cols) {
    return entry.parts.Mismatch("metadata " + std::string(kShapeKey) + name,
                                std::to_string(rows) + "," + std::to_string(cols),
                                std::to_string(entry.rows) + "," + std::to_string(entry.cols));
  }
  GPT2Q_ASSIGN_OR_RETURN(std::unique_ptr<WeightMatrix> m,
                         entry.format->load(entry.parts, rows, cols, entry.params));
  return std::shared_ptr<WeightMatrix>(std::move(m));
}

}  // namespace gpt2q
