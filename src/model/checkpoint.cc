// LoadCheckpoint / SaveCheckpoint: GPT-2 in Hugging Face layout over safetensors.
#include "model/checkpoint.h"

#include <immintrin.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "core/aligned_buffer.h"
#include "core/finite.h"
#include "core/half.h"
#include "formats/fp32_matrix.h"
#include "model/hf_bnb_reader.h"
#include "model/quantized_checkpoint.h"

namespace gpt2q {
namespace {

constexpr char kPrefix[] = "transformer.";

// How a parameter is stored in the checkpoint.
enum class Layout {
  kConv1D,    // linear weight, HF shape [in, out]
  kRowMajor,  // embedding / head, HF shape [rows, cols]
  kVector,    // fp32 vector (bias, LayerNorm, wpe), any shape
};

// One parameter: its bare HF name, HF shape and where it lives in ModelWeights.
template <typename W>
struct Param {
  using Matrix = std::conditional_t<std::is_const_v<W>, const std::shared_ptr<WeightMatrix>,
                                    std::shared_ptr<WeightMatrix>>;
  using Span = std::conditional_t<std::is_const_v<W>, const FloatSpan, FloatSpan>;
  std::string name;
  std::vector<int64_t> shape;
  Layout layout;
  Matrix* matrix = nullptr;
  Span* span = nullptr;
  bool optional = false;  // may be absent (h.N.mlp.act_scale)
};

// Returns every parameter of `w` (sized for w.config, blocks already resized)
// in HF order, with lm_head last when `with_head`.
template <typename W>
std::vector<Param<W>> ListParams(W& w, bool with_head) {
  const GPT2Config& c = w.config;
  const int64_t e = c.n_embd, in = c.n_inner;
  std::vector<Param<W>> params;
  auto matrix = [&](std::string name, std::vector<int64_t> shape, Layout layout, auto* m) {
    params.push_back({std::move(name), std::move(shape), layout, m, nullptr});
  };
  auto vec = [&](std::string name, std::vector<int64_t> shape, auto* s) {
    params.push_back({std::move(name), std::move(shape), Layout::kVector, nullptr, s});
  };
  matrix("wte.weight", {c.n_vocab, e}, Layout::kRowMajor, &w.wte);
  vec("wpe.weight", {c.n_ctx, e}, &w.wpe);
  for (size_t i = 0; i < w.blocks.size(); ++i) {
    auto& b = w.blocks[i];
    const std::string p = "h." + std::to_string(i) + ".";
    vec(p + "ln_1.weight", {e}, &b.ln_1_weight);
    vec(p + "ln_1.bias", {e}, &b.ln_1_bias);
    matrix(p + "attn.c_attn.weight", {e, 3 * e}, Layout::kConv1D, &b.attn_c_attn);
    vec(p + "attn.c_attn.bias", {3 * e}, &b.attn_c_attn_bias);
    matrix(p + "attn.c_proj.weight", {e, e}, Layout::kConv1D, &b.attn_c_proj);
    vec(p + "attn.c_proj.bias", {e}, &b.attn_c_proj_bias);
    vec(p + "ln_2.weight", {e}, &b.ln_2_weight);
    vec(p + "ln_2.bias", {e}, &b.ln_2_bias);
    matrix(p + "mlp.c_fc.weight", {e, in}, Layout::kConv1D, &b.mlp_c_fc);
    vec(p + "mlp.c_fc.bias", {in}, &b.mlp_c_fc_bias);
    matrix(p + "mlp.c_proj.weight", {in, e}, Layout::kConv1D, &b.mlp_c_proj);
    vec(p + "mlp.c_proj.bias", {e}, &b.mlp_c_proj_bias);
    vec(p + "mlp.act_scale", {in}, &b.mlp_act_scale);  // AWQ's GELU scale: gpt2q files only
    params.back().optional = true;
  }
  vec("ln_f.weight", {e}, &w.ln_f_weight);
  vec("ln_f.bias", {e}, &w.ln_f_bias);
  if (with_head) matrix("lm_head.weight", {c.n_vocab, e}, Layout::kRowMajor, &w.lm_head);
  return params;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t Numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// Returns true for the attention-mask buffers h.N.attn.bias / h.N.attn.masked_bias.
bool IsIgnoredBuffer(const std::string& name, int64_t n_layer) {
  if (name.rfind("h.", 0) != 0) return false;
  size_t dot = name.find('.', 2);
  if (dot == std::string::npos || dot == 2 || dot > 8) return false;
  for (size_t i = 2; i < dot; ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
  }
  if (std::stoll(name.substr(2, dot - 2)) >= n_layer) return false;
  std::string rest = name.substr(dot + 1);
  return rest == "attn.bias" || rest == "attn.masked_bias";
}

// Returns the fp32 value of an IEEE binary16 with F16C (in the baseline ISA):
// exact like Fp16ToFloat, and the conversion loop below vectorizes with it
// (measured: 124M values convert and count faster than Fp16ToFloat converted
// alone).
inline float Fp16ToFloatF16c(uint16_t h) { return _cvtsh_ss(h); }

// Converts `n` 16-bit floats at `in` to fp32 at `out`; returns how many are
// NaN or Inf, counted in the same pass.
template <float (*kConvert)(uint16_t), bool (*kNonFinite)(uint16_t)>
int64_t ConvertHalves(const uint8_t* in, int64_t n, float* out) {
  int64_t bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, in + 2 * i, 2);
    out[i] = kConvert(h);
    bad += kNonFinite(h) ? 1 : 0;
  }
  return bad;
}

// fp32 values of a tensor, what keeps them alive, and its NaN/Inf values.
struct FloatValues {
  const float* data;
  std::shared_ptr<const void> owner;
  NonFiniteCount nonfinite;
};

// Returns fp32 values for `t`: in place when it is aligned F32 (owned by the
// file's TensorOwner), otherwise converted into a buffer of their own. Counts
// the NaN and ±Inf values on the way (a scan of F32; inside the F16/BF16
// conversion loop).
Result<FloatValues> FloatData(const SafetensorsFile& file, const TensorView& t) {
  const std::string& path = file.path();
  const int64_t n = t.numel();
  if (t.dtype == Dtype::kF32 && reinterpret_cast<uintptr_t>(t.data) % alignof(float) == 0) {
    NonFiniteCount nonfinite;
    {
      // The scan reads every page of the tensor. An owner of its own hands
      // them back when it goes (mapped files), so loading leaves the RSS as it
      // was: the pages come back from the file when the weight is used.
      std::shared_ptr<const void> scan_owner = file.TensorOwner(t);
      nonfinite = CountNonFiniteF32(t.data, n);
    }
    return FloatValues{reinterpret_cast<const float*>(t.data), file.TensorOwner(t), nonfinite};
  }
  if (t.dtype != Dtype::kF32 && t.dtype != Dtype::kF16 && t.dtype != Dtype::kBF16) {
    return Status::Error(path + ": tensor '" + t.name + "': expected dtype F32, F16 or BF16, got " +
                         DtypeName(t.dtype));
  }
  auto buffer = std::make_shared<AlignedBuffer>(static_cast<size_t>(n) * sizeof(float));
  float* out = buffer->as<float>();
  NonFiniteCount nonfinite;
  if (t.dtype == Dtype::kF32) {
    std::memcpy(out, t.data, static_cast<size_t>(n) * sizeof(float));
    nonfinite = CountNonFiniteF32(out, n);
  } else {
    const bool f16 = t.dtype == Dtype::kF16;
    const int64_t bad = f16 ? ConvertHalves<Fp16ToFloatF16c, IsNonFiniteF16Bits>(t.data, n, out)
                            : ConvertHalves<Bf16ToFloat, IsNonFiniteBf16Bits>(t.data, n, out);
    if (bad > 0) nonfinite = f16 ? CountNonFiniteF16(t.data, n) : CountNonFiniteBf16(t.data, n);
  }
  return FloatValues{out, std::move(buffer), nonfinite};
}

// Returns the NaN/Inf count of a quantized matrix's part when it holds
// floating-point values (F32, F16, BF16), an empty count otherwise.
NonFiniteCount CountPartNonFinite(const TensorView& t) {
  switch (t.dtype) {
    case Dtype::kF32: return CountNonFiniteF32(t.data, t.numel());
    case Dtype::kF16: return CountNonFiniteF16(t.data, t.numel());
    case Dtype::kBF16: return CountNonFiniteBf16(t.data, t.numel());
    default: return {};
  }
}

// Reports NaN/Inf values found in tensor `t`: an error, or (allowed) an
// entry of `*nonfinite`.
Status CheckFinite(const std::string& path, const TensorView& t, const NonFiniteCount& c,
                   const LoadOptions& options, std::vector<NonFiniteTensor>* nonfinite) {
  if (c.count == 0) return OkStatus();
  if (!options.allow_nonfinite) {
    return Status::Error(path + ": tensor '" + t.name + "' has " + std::to_string(c.count) +
                         " non-finite value" + (c.count == 1 ? "" : "s") + " (NaN or Inf) of " +
                         std::to_string(t.numel()) + ", the first at index " +
                         std::to_string(c.first) +
                         ": the file is corrupt (--allow-nonfinite loads it anyway)");
  }
  if (nonfinite != nullptr) nonfinite->push_back({t.name, c.count, c.first, t.numel()});
  return OkStatus();
}

}  // namespace

Result<ModelWeights> LoadCheckpoint(const std::string& dir, const LoadOptions& options,
                                    std::vector<NonFiniteTensor>* nonfinite) {
  const std::string config_path = dir + "/config.json";
  const std::string path = dir + "/model.safetensors";
  GPT2Q_ASSIGN_OR_RETURN(GPT2Config config, ParseConfigJson(config_path));
  GPT2Q_ASSIGN_OR_RETURN(std::shared_ptr<SafetensorsFile> file, SafetensorsFile::Open(path));

  ModelWeights w;
  w.config = config;
  w.blocks.resize(static_cast<size_t>(config.n_layer));
  w.owners.push_back(file->owner());
  std::vector<Param<ModelWeights>> params = ListParams(w, /*with_head=*/true);
  std::map<std::string, size_t> by_name;
  for (size_t i = 0; i < params.size(); ++i) by_name[params[i].name] = i;
  // gpt2q quantized checkpoints: matrices stored as their format's parts;
  // transformers + bitsandbytes folders: their quantized linears (hf_bnb_reader.h).
  GPT2Q_ASSIGN_OR_RETURN(std::optional<HfBnbTensors> bnb, ReadHfBnbTensors(config_path, *file, config));
  QuantizedTensors quantized;
  if (bnb) {
    quantized = bnb->tensors;  // its parts view the file and bnb->offsets, alive until return
  } else {
    GPT2Q_ASSIGN_OR_RETURN(quantized, ReadQuantizedTensors(*file));
  }
  for (const auto& [name, entry] : quantized.matrices) {
    auto it = by_name.find(name);
    if (it == by_name.end() || params[it->second].layout == Layout::kVector) {
      return Status::Error(path + ": metadata gpt2q.format." + name + " names '" + name +
                           "', which is not a weight matrix of a " + std::to_string(config.n_layer) +
                           "-layer GPT-2");
    }
  }
  // Every floating-point part (scales, absmax, ...), whatever the format.
  for (const TensorView& t : file->tensors()) {
    if (quantized.part_names.count(t.name) == 0) continue;
    GPT2Q_RETURN_IF_ERROR(CheckFinite(path, t, CountPartNonFinite(t), options, nonfinite));
  }

  // Match the file's tensors to parameters.
  std::vector<const TensorView*> found(params.size(), nullptr);
  for (const TensorView& t : file->tensors()) {
    std::string bare = t.name.rfind(kPrefix, 0) == 0 ? t.name.substr(sizeof(kPrefix) - 1) : t.name;
    if (IsIgnoredBuffer(bare, config.n_layer)) continue;
    if (quantized.part_names.count(t.name) != 0) continue;
    auto it = by_name.find(bare);
    if (it == by_name.end()) {
      return Status::Error(path + ": unknown tensor '" + t.name + "' with shape " +
                           ShapeString(t.shape) + " (not a parameter of a " +
                           std::to_string(config.n_layer) + "-layer GPT-2)");
    }
    if (found[it->second] != nullptr) {
      return Status::Error(path + ": tensor '" + bare + "' appears twice ('" +
                           found[it->second]->name + "' and '" + t.name + "')");
    }
    found[it->second] = &t;
  }

  for (size_t i = 0; i < params.size(); ++i) {
    Param<ModelWeights>& p = params[i];
    const TensorView* t = found[i];
    const bool is_head = p.name == "lm_head.weight";
    if (auto q = quantized.matrices.find(p.name); q != quantized.matrices.end()) {
      if (t != nullptr) {
        return Status::Error(path + ": tensor '" + p.name + "' is stored both plain ('" + t->name +
                             "') and as " + std::string(q->second.format->name) + " parts");
      }
      const bool conv = p.layout == Layout::kConv1D;
      const int64_t rows = conv ? p.shape[1] : p.shape[0], cols = conv ? p.shape[0] : p.shape[1];
      GPT2Q_ASSIGN_OR_RETURN(*p.matrix, LoadStoredMatrix(p.name, q->second, rows, cols));
      continue;
    }
    if (t == nullptr) {
      if (is_head || p.optional) continue;  // head: tied below
      return Status::Error(path + ": missing tensor '" + p.name + "' (expected shape " +
                           ShapeString(p.shape) + ")");
    }
    if (t->shape != p.shape) {
      return Status::Error(path + ": tensor '" + t->name + "': expected shape " +
                           ShapeString(p.shape) + " for config " + config_path + ", got " +
                           ShapeString(t->shape));
    }
    if (t->dtype != Dtype::kF32 && t->dtype != Dtype::kF16 && t->dtype != Dtype::kBF16) {
      return Status::Error(path + ": tensor '" + t->name +
                           "': expected dtype F32, F16 or BF16, got " + DtypeName(t->dtype));
    }
    if (is_head) {
      const TensorView* wte = found[0];
      if (wte != nullptr && wte->dtype == t->dtype && wte->nbytes == t->nbytes &&
          (wte->data == t->data || std::memcmp(wte->data, t->data, t->nbytes) == 0)) {
        continue;  // byte-identical to wte: tie
      }
    }
    // A matrix owns its values, so that quantizing it releases them.
    GPT2Q_ASSIGN_OR_RETURN(FloatValues values, FloatData(*file, *t));
    GPT2Q_RETURN_IF_ERROR(CheckFinite(path, *t, values.nonfinite, options, nonfinite));
    switch (p.layout) {
      case Layout::kVector:
        *p.span = FloatSpan{values.data, Numel(p.shape)};
        w.owners.push_back(std::move(values.owner));
        break;
      case Layout::kConv1D:  // [in, out]: rows = out
        *p.matrix = std::make_shared<Fp32Matrix>(values.data, p.shape[1], p.shape[0], Fp32Layout::kInOut,
                                                 std::move(values.owner));
        break;
      case Layout::kRowMajor:
        *p.matrix = std::make_shared<Fp32Matrix>(values.data, p.shape[0], p.shape[1], Fp32Layout::kOutIn,
                                                 std::move(values.owner));
        break;
    }
  }
  if (w.lm_head == nullptr) w.lm_head = w.wte;
  return w;
}

Status PrepareCheckpointDir(const ModelWeights& weights, const std::string& dir) {
  if (static_cast<int64_t>(weights.blocks.size()) != weights.config.n_layer) {
    return Status::Error(dir + ": model has " + std::to_string(weights.blocks.size()) +
                         " blocks, config says n_layer = " + std::to_string(weights.config.n_layer));
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::Error(dir + ": cannot create directory: " + ec.message());
  return OkStatus();
}

Status SaveCheckpoint(const ModelWeights& weights, const std::string& dir, Dtype dtype,
                      bool prefixed_names) {
  if (dtype != Dtype::kF32 && dtype != Dtype::kF16 && dtype != Dtype::kBF16) {
    return Status::Error(dir + ": cannot save a checkpoint as " + std::string(DtypeName(dtype)) +
                         ": expected F32, F16 or BF16");
  }
  GPT2Q_RETURN_IF_ERROR(PrepareCheckpointDir(weights, dir));

  const bool tied = weights.head_tied();
  std::vector<Param<const ModelWeights>> params = ListParams(weights, !tied);
  std::vector<AlignedBuffer> buffers;  // bytes of tensors that are not written in place
  buffers.reserve(2 * params.size());
  std::vector<TensorToWrite> tensors;
  std::vector<float> row;
  for (const auto& p : params) {
    const int64_t n = Numel(p.shape);
    const float* values = nullptr;  // fp32 values in HF layout
    if (p.layout == Layout::kVector) {
      if (p.optional && p.span->data == nullptr) continue;
      if (p.optional) {
        return Status::Error(dir + ": parameter '" + p.name +
                             "' has no place in a Hugging Face checkpoint; save the quantized checkpoint "
                             "or fold it into mlp.c_proj first");
      }
      if (p.span->data == nullptr || p.span->size != n) {
        return Status::Error(dir + ": parameter '" + p.name + "': expected " + std::to_string(n) +
                             " values, have " + std::to_string(p.span->size));
      }
      values = p.span->data;
    } else {
      const WeightMatrix* m = p.matrix->get();
      const bool conv = p.layout == Layout::kConv1D;
      const int64_t rows = conv ? p.shape[1] : p.shape[0], cols = conv ? p.shape[0] : p.shape[1];
      if (m == nullptr || m->rows() != rows || m->cols() != cols) {
        return Status::Error(dir + ": parameter '" + p.name + "': expected a " +
                             std::to_string(rows) + "x" + std::to_string(cols) + " matrix");
      }
      auto* fp32 = dynamic_cast<const Fp32Matrix*>(m);
      if (fp32 != nullptr &&
          fp32->layout() == (conv ? Fp32Layout::kInOut : Fp32Layout::kOutIn)) {
        values = fp32->data();
      } else {
        AlignedBuffer& buf = buffers.emplace_back(static_cast<size_t>(n) * sizeof(float));
        float* out = buf.as<float>();
        row.resize(static_cast<size_t>(cols));
        for (int64_t o = 0; o < rows; ++o) {
          if (conv) {
            m->DequantizeRow(o, row.data());
            for (int64_t i = 0; i < cols; ++i) out[i * rows + o] = row[i];
          } else {
            m->DequantizeRow(o, out + o * cols);
          }
        }
        values = out;
      }
    }
    TensorToWrite t;
    t.name = (prefixed_names && p.name != "lm_head.weight") ? kPrefix + p.name : p.name;
    t.dtype = dtype;
    t.shape = p.shape;
    t.nbytes = n * DtypeSize(dtype);
    if (dtype == Dtype::kF32) {
      t.data = values;
    } else {
      AlignedBuffer& buf = buffers.emplace_back(static_cast<size_t>(t.nbytes));
      uint16_t* out = buf.as<uint16_t>();
      for (int64_t i = 0; i < n; ++i) {
        out[i] = dtype == Dtype::kF16 ? FloatToFp16(values[i]) : FloatToBf16(values[i]);
      }
      t.data = out;
    }
    tensors.push_back(std::move(t));
  }
  GPT2Q_RETURN_IF_ERROR(
      WriteSafetensors(dir + "/model.safetensors", tensors, {{"format", "pt"}}));

  nlohmann::ordered_json config = nlohmann::ordered_json::parse(ConfigToJson(weights.config));
  config["tie_word_embeddings"] = tied;
  config["torch_dtype"] = dtype == Dtype::kF32   ? "float32"
                          : dtype == Dtype::kF16 ? "float16"
                                                 : "bfloat16";
  const std::string config_path = dir + "/config.json";
  std::FILE* f = std::fopen(config_path.c_str(), "wb");
  if (f == nullptr) return Status::Error(config_path + ": cannot create: " + std::strerror(errno));
  std::string text = config.dump(2) + "\n";
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) return Status::Error(config_path + ": write failed: " + std::strerror(errno));
  return OkStatus();
}

Status CopyTokenizerFiles(const std::string& src_dir, const std::string& dst_dir) {
  std::error_code ec;
  std::filesystem::create_directories(dst_dir, ec);
  if (ec) return Status::Error(dst_dir + ": cannot create directory: " + ec.message());
  for (const char* name : {"vocab.json", "merges.txt"}) {
    const std::string src = src_dir + "/" + name, dst = dst_dir + "/" + name;
    std::filesystem::copy_file(src, dst, std::filesystem::copy_options::overwrite_existing, ec);
    if (ec) return Status::Error(src + ": cannot copy to " + dst + ": " + ec.message());
  }
  return OkStatus();
}

}  // namespace gpt2q
