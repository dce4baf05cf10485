// LoadGgufCheckpoint: a GPT-2 from a mapped GGUF file, weights used in place.
#include "model/gguf_checkpoint.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <set>


#include "core/aligned_buffer.h"
#include "core/finite.h"
#include "core/half.h"
#include "formats/bf16_matrix.h"
#include "formats/fp16_matrix.h"
#include "formats/fp32_matrix.h"
#include "formats/ggml_formats.h"
#include "model/config.h"

namespace gpt2q {
namespace {

struct TypeRow {
  uint32_t ggml;
  std::string_view format;
};
constexpr TypeRow kTypeRows[] = {
    {kGgmlF32, "fp32"},  {kGgmlF16, "fp16"},  {kGgmlBF16, "bf16"}, {kGgmlQ8_0, "q8_0"}, {kGgmlQ4_0, "q4_0"},
    {kGgmlQ4_1, "q4_1"}, {kGgmlQ5_0, "q5_0"}, {kGgmlQ5_1, "q5_1"}, {kGgmlQ4_K, "q4_k"},
    {kGgmlQ6_K, "q6_k"},
};

// The GgmlType of a block-format ggml id (one of kTypeRows past bf16).
GgmlType BlockType(uint32_t ggml) {
  switch (ggml) {
    case kGgmlQ8_0: return GgmlType::kQ8_0;
    case kGgmlQ4_0: return GgmlType::kQ4_0;
    case kGgmlQ4_1: return GgmlType::kQ4_1;
    case kGgmlQ5_0: return GgmlType::kQ5_0;
    case kGgmlQ5_1: return GgmlType::kQ5_1;
    case kGgmlQ4_K: return GgmlType::kQ4_K;
    default: return GgmlType::kQ6_K;
  }
}

std::string NeText(const std::vector<int64_t>& ne) {
  std::string s = "[";
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "]";
}

std::string TypeName(uint32_t type) {
  std::optional<GgmlTypeSize> size = GgmlTypeSizeOf(type);
  return size ? std::string(size->name) : "type " + std::to_string(type);
}

// Reports NaN/Inf found in `t`: an error, or (allowed) an entry of `*nonfinite`.
Status CheckFinite(const std::string& path, const GgufTensor& t, const NonFiniteCount& c,
                   const LoadOptions& options, std::vector<NonFiniteTensor>* nonfinite) {
  if (c.count == 0) return OkStatus();
  if (!options.allow_nonfinite) {
    return Status::Error(path + ": tensor '" + t.name + "' has " + std::to_string(c.count) +
                         " non-finite value" + (c.count == 1 ? "" : "s") + " (NaN or Inf) of " +
                         std::to_string(t.numel()) + ", the first at index " + std::to_string(c.first) +
                         ": the file is corrupt (--allow-nonfinite loads it anyway)");
  }
  if (nonfinite != nullptr) nonfinite->push_back({t.name, c.count, c.first, t.numel()});
  return OkStatus();
}

NonFiniteCount CountNonFinite(const GgufFile& file, const GgufTensor& t) {
  // The scan reads every page; an owner of its own hands them back after it
  // (mapped files), so loading leaves the RSS as it was.
  std::shared_ptr<const void> scan_owner = file.TensorOwner(t);
  if (t.type == kGgmlF32) return CountNonFiniteF32(t.data, t.numel());
  if (t.type == kGgmlF16) return CountNonFiniteF16(t.data, t.numel());
  if (t.type == kGgmlBF16) return CountNonFiniteBf16(t.data, t.numel());
  return {};
}

// Returns a copy of `t`'s bytes in an aligned buffer (for views whose address
// does not suit the element type: a file with general.alignment below 4).
std::shared_ptr<AlignedBuffer> AlignedCopy(const GgufTensor& t) {
  auto buffer = std::make_shared<AlignedBuffer>(static_cast<size_t>(t.nbytes));
  std::memcpy(buffer->data(), t.data, static_cast<size_t>(t.nbytes));
  return buffer;
}

// Builds the matrix [ne[1], ne[0]] of `t` over the file's bytes.
Result<std::shared_ptr<WeightMatrix>> LoadMatrix(const GgufFile& file, const GgufTensor& t) {
  const int64_t rows = t.ne[1], cols = t.ne[0];
  std::shared_ptr<const void> owner = file.TensorOwner(t);
  const uint8_t* data = t.data;
  if (reinterpret_cast<uintptr_t>(data) % 4 != 0) {
    auto copy = AlignedCopy(t);
    data = copy->data();
    owner = std::move(copy);
  }
  switch (t.type) {
    case kGgmlF32:
      return std::shared_ptr<WeightMatrix>(std::make_shared<Fp32Matrix>(
          reinterpret_cast<const float*>(data), rows, cols, Fp32Layout::kOutIn, std::move(owner)));
    case kGgmlF16:
      return std::shared_ptr<WeightMatrix>(std::make_shared<Fp16Matrix>(
          reinterpret_cast<const uint16_t*>(data), rows, cols, std::move(owner)));
    case kGgmlBF16:
      return std::shared_ptr<WeightMatrix>(std::make_shared<Bf16Matrix>(
          reinterpret_cast<const uint16_t*>(data), rows, cols, std::move(owner)));
    default:
      break;
  }
  if (!FormatOfGgmlType(t.type)) {
    std::string valid;
    for (const TypeRow& row : kTypeRows) valid += (valid.empty() ? "" : ", ") + TypeName(row.ggml);
    return Status::Error(file.path() + ": tensor '" + t.name + "': ggml type " + TypeName(t.type) +
                         " has no gpt2q format; gpt2q reads " + valid);
  }
  return std::shared_ptr<WeightMatrix>(
      std::make_shared<GgmlMatrix>(BlockType(t.type), rows, cols, data, std::move(owner)));
}

// Returns fp32 values of a vector tensor (biases, norms, wpe): F32 in place,
// other types converted into a buffer of their own.
Result<std::pair<FloatSpan, std::shared_ptr<const void>>> LoadVector(const GgufFile& file,
                                                                     const GgufTensor& t) {
  const int64_t n = t.numel();
  if (t.type == kGgmlF32 && reinterpret_cast<uintptr_t>(t.data) % 4 == 0) {
    return std::make_pair(FloatSpan{reinterpret_cast<const float*>(t.data), n}, file.TensorOwner(t));
  }
  auto buffer = std::make_shared<AlignedBuffer>(static_cast<size_t>(n) * sizeof(float));
  float* out = buffer->as<float>();
  if (t.type == kGgmlF32) {
    std::memcpy(out, t.data, static_cast<size_t>(n) * sizeof(float));
  } else if (t.type == kGgmlF16 || t.type == kGgmlBF16) {
    float (*convert)(uint16_t) = t.type == kGgmlF16 ? Fp16ToFloat : Bf16ToFloat;
    for (int64_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, t.data + 2 * i, 2);
      out[i] = convert(h);
    }
  } else if (FormatOfGgmlType(t.type)) {
    const GgmlTypeInfo& info = GetGgmlTypeInfo(BlockType(t.type));
    const int64_t row = t.ne[0], row_bytes = row / info.block_values * info.block_bytes;
    // Block structs hold uint16 fields: dequantize from an aligned copy.
    std::shared_ptr<AlignedBuffer> copy = AlignedCopy(t);
    for (int64_t r = 0; r < n / row; ++r) info.dequantize_row(copy->data() + r * row_bytes, out + r * row, row);
  } else {
    return Status::Error(file.path() + ": tensor '" + t.name + "': ggml type " + TypeName(t.type) +
                         " cannot be read as fp32 values (expected f32, f16, bf16 or a gpt2q block type)");
  }
  return std::make_pair(FloatSpan{out, n}, std::shared_ptr<const void>(std::move(buffer)));
}

Result<GPT2Config> ReadConfig(const GgufFile& file, int64_t n_vocab) {
  GPT2Q_ASSIGN_OR_RETURN(std::string arch, file.GetString("general.architecture"));
  if (arch != "gpt2") {
    return Status::Error(file.path() + ": metadata key 'general.architecture': expected \"gpt2\", got \"" +
                         arch + "\" (gpt2q runs GPT-2 models only)");
  }
  GPT2Config c;
  c.n_vocab = n_vocab;
  GPT2Q_ASSIGN_OR_RETURN(c.n_layer, file.GetInt("gpt2.block_count", 1, kMaxLayer));
  GPT2Q_ASSIGN_OR_RETURN(c.n_ctx, file.GetInt("gpt2.context_length", 1, kMaxCtx));
  GPT2Q_ASSIGN_OR_RETURN(c.n_embd, file.GetInt("gpt2.embedding_length", 1, kMaxEmbd));
  GPT2Q_ASSIGN_OR_RETURN(c.n_head, file.GetInt("gpt2.attention.head_count", 1, kMaxEmbd));
  if (c.n_embd % c.n_head != 0) {
    return Status::Error(file.path() + ": gpt2.embedding_length (" + std::to_string(c.n_embd) +
                         ") must be divisible by gpt2.attention.head_count (" + std::to_string(c.n_head) + ")");
  }
  GPT2Q_ASSIGN_OR_RETURN(c.n_inner, file.GetIntOr("gpt2.feed_forward_length", 1, kMaxInner, 4 * c.n_embd));
  GPT2Q_ASSIGN_OR_RETURN(double eps, file.GetFloat("gpt2.attention.layer_norm_epsilon"));
  if (!(eps > 0.0 && eps < 1.0)) {
    return Status::Error(file.path() + ": metadata key 'gpt2.attention.layer_norm_epsilon': expected a "
                         "number in (0, 1), got " + std::to_string(eps));
  }
  c.layer_norm_epsilon = static_cast<float>(eps);
  const int64_t default_eos = std::min<int64_t>(50256, n_vocab - 1);
  GPT2Q_ASSIGN_OR_RETURN(int64_t eos, file.GetIntOr("tokenizer.ggml.eos_token_id", 0, n_vocab - 1, default_eos));
  c.eos_token_id = static_cast<int32_t>(eos);
  return c;
}

}  // namespace

std::optional<uint32_t> GgmlTypeOfFormat(std::string_view format) {
  for (const TypeRow& row : kTypeRows) {
    if (row.format == format) return row.ggml;
  }
  return std::nullopt;
}

std::optional<std::string_view> FormatOfGgmlType(uint32_t type) {
  for (const TypeRow& row : kTypeRows) {
    if (row.ggml == type) return row.format;
  }
  return std::nullopt;
}

template <typename W>
std::vector<GgufParam<W>> GgufParams(W& w) {
  const GPT2Config& c = w.config;
  const int64_t e = c.n_embd, in = c.n_inner;
  std::vector<GgufParam<W>> params;
  auto matrix = [&](std::string gguf, std::string hf, std::vector<int64_t> ne, auto* m) {
    params.push_back({std::move(gguf), std::move(hf), std::move(ne), m, nullptr});
  };
  auto vec = [&](std::string gguf, std::string hf, std::vector<int64_t> ne, auto* s) {
    params.push_back({std::move(gguf), std::move(hf), std::move(ne), nullptr, s});
  };
  matrix("output.weight", "lm_head.weight", {e, c.n_vocab}, &w.lm_head);
  vec("output_norm.bias", "ln_f.bias", {e}, &w.ln_f_bias);
  vec("output_norm.weight", "ln_f.weight", {e}, &w.ln_f_weight);
  vec("position_embd.weight", "wpe.weight", {e, c.n_ctx}, &w.wpe);
  matrix("token_embd.weight", "wte.weight", {e, c.n_vocab}, &w.wte);
  for (size_t i = 0; i < w.blocks.size(); ++i) {
    auto& b = w.blocks[i];
    const std::string g = "blk." + std::to_string(i) + ".", h = "h." + std::to_string(i) + ".";
    vec(g + "attn_norm.bias", h + "ln_1.bias", {e}, &b.ln_1_bias);
    vec(g + "attn_norm.weight", h + "ln_1.weight", {e}, &b.ln_1_weight);
    vec(g + "attn_output.bias", h + "attn.c_proj.bias", {e}, &b.attn_c_proj_bias);
    matrix(g + "attn_output.weight", h + "attn.c_proj.weight", {e, e}, &b.attn_c_proj);
    vec(g + "attn_qkv.bias", h + "attn.c_attn.bias", {3 * e}, &b.attn_c_attn_bias);
    matrix(g + "attn_qkv.weight", h + "attn.c_attn.weight", {e, 3 * e}, &b.attn_c_attn);
    vec(g + "ffn_down.bias", h + "mlp.c_proj.bias", {e}, &b.mlp_c_proj_bias);
    matrix(g + "ffn_down.weight", h + "mlp.c_proj.weight", {in, e}, &b.mlp_c_proj);
    vec(g + "ffn_norm.bias", h + "ln_2.bias", {e}, &b.ln_2_bias);
    vec(g + "ffn_norm.weight", h + "ln_2.weight", {e}, &b.ln_2_weight);
    vec(g + "ffn_up.bias", h + "mlp.c_fc.bias", {in}, &b.mlp_c_fc_bias);
    matrix(g + "ffn_up.weight", h + "mlp.c_fc.weight", {e, in}, &b.mlp_c_fc);
  }
  return params;
}

template std::vector<GgufParam<ModelWeights>> GgufParams(ModelWeights&);
template std::vector<GgufParam<const ModelWeights>> GgufParams(const ModelWeights&);

std::string GgufVocab::VocabJson() const {
  // Written by hand: a JSON library's ordered object would search its keys on
  // every insert (50257 tokens). Bytes ≥ 0x80 pass through; the tokenizer's
  // parser rejects what is not UTF-8, naming the token.
  std::string json = "{";
  for (size_t i = 0; i < tokens.size(); ++i) {
    json += i == 0 ? "\"" : ",\"";
    for (char ch : tokens[i]) {
      const auto c = static_cast<unsigned char>(ch);
      if (c == '"' || c == '\\') {
        json += '\\';
        json += ch;
      } else if (c < 0x20) {
        static constexpr char kHex[] = "0123456789abcdef";
        json += "\\u00";
        json += kHex[c >> 4];
        json += kHex[c & 15];
      } else {
        json += ch;
      }
    }
    json += "\":" + std::to_string(i);
  }
  return json + "}";
}

std::string GgufVocab::MergesText() const {
  std::string text = "#version: 0.2\n";
  for (const std::string& m : merges) text += m + "\n";
  return text;
}

Result<GgufVocab> ReadGgufVocab(const GgufFile& file) {
  GPT2Q_ASSIGN_OR_RETURN(std::string model, file.GetString("tokenizer.ggml.model"));
  if (model != "gpt2") {
    return Status::Error(file.path() + ": metadata key 'tokenizer.ggml.model': expected \"gpt2\" (GPT-2's "
                         "byte-level BPE), got \"" + model + "\"");
  }
  GgufVocab vocab;
  GPT2Q_ASSIGN_OR_RETURN(std::vector<std::string_view> tokens, file.GetStrings("tokenizer.ggml.tokens"));
  if (tokens.empty() || static_cast<int64_t>(tokens.size()) > kMaxVocab) {
    return Status::Error(file.path() + ": metadata key 'tokenizer.ggml.tokens': expected 1.." +
                         std::to_string(kMaxVocab) + " tokens, got " + std::to_string(tokens.size()));
  }
  vocab.tokens.assign(tokens.begin(), tokens.end());
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (file.Find("tokenizer.ggml.token_type") != nullptr) {
    GPT2Q_ASSIGN_OR_RETURN(std::vector<int64_t> types, file.GetInts("tokenizer.ggml.token_type"));
    if (static_cast<int64_t>(types.size()) != n) {
      return Status::Error(file.path() + ": metadata key 'tokenizer.ggml.token_type': expected " +
                           std::to_string(n) + " values (one per token), got " + std::to_string(types.size()));
    }
    vocab.token_types.assign(types.begin(), types.end());
  }
  if (file.Find("tokenizer.ggml.merges") != nullptr) {
    GPT2Q_ASSIGN_OR_RETURN(std::vector<std::string_view> merges, file.GetStrings("tokenizer.ggml.merges"));
    vocab.merges.assign(merges.begin(), merges.end());
  }
  const int64_t fallback = std::min<int64_t>(50256, n - 1);
  GPT2Q_ASSIGN_OR_RETURN(int64_t bos, file.GetIntOr("tokenizer.ggml.bos_token_id", 0, n - 1, fallback));
  GPT2Q_ASSIGN_OR_RETURN(int64_t eos, file.GetIntOr("tokenizer.ggml.eos_token_id", 0, n - 1, fallback));
  GPT2Q_ASSIGN_OR_RETURN(int64_t unk, file.GetIntOr("tokenizer.ggml.unknown_token_id", 0, n - 1, fallback));
  vocab.bos_id = static_cast<int32_t>(bos);
  vocab.eos_id = static_cast<int32_t>(eos);
  vocab.unknown_id = static_cast<int32_t>(unk);
  return vocab;
}

Result<GgufCheckpoint> LoadGgufCheckpoint(const std::string& path, const LoadOptions& options,
                                          std::vector<NonFiniteTensor>* nonfinite) {
  GPT2Q_ASSIGN_OR_RETURN(std::shared_ptr<GgufFile> file, GgufFile::Open(path));
  return LoadGgufCheckpoint(std::shared_ptr<const GgufFile>(std::move(file)), options, nonfinite);
}

Result<GgufCheckpoint> LoadGgufCheckpoint(std::shared_ptr<const GgufFile> file, const LoadOptions& options,
                                          std::vector<NonFiniteTensor>* nonfinite) {
  const std::string& path = file->path();
  GgufCheckpoint out;
  GPT2Q_ASSIGN_OR_RETURN(out.vocab, ReadGgufVocab(*file));
  GPT2Q_ASSIGN_OR_RETURN(GPT2Config config, ReadConfig(*file, static_cast<int64_t>(out.vocab.tokens.size())));
  if (file->Find("general.name") != nullptr) {
    GPT2Q_ASSIGN_OR_RETURN(out.name, file->GetString("general.name"));
  }
  if (file->Find("general.file_type") != nullptr) {
    GPT2Q_ASSIGN_OR_RETURN(out.file_type, file->GetInt("general.file_type", 0, INT32_MAX));
  }

  ModelWeights& w = out.weights;
  w.config = config;
  w.blocks.resize(static_cast<size_t>(config.n_layer));
  w.owners.push_back(file->owner());
  std::vector<GgufParam<ModelWeights>> params = GgufParams(w);
  std::set<std::string> expected;
  for (const auto& p : params) expected.insert(p.gguf_name);
  for (const GgufTensor& t : file->tensors()) {
    if (expected.count(t.name) == 0) {
      return Status::Error(path + ": unknown tensor '" + t.name + "' with ggml shape " + NeText(t.ne) +
                           " (not a tensor of a " + std::to_string(config.n_layer) + "-layer GPT-2)");
    }
  }
  for (auto& p : params) {
    const GgufTensor* t = file->FindTensor(p.gguf_name);
    if (t == nullptr) {
      if (p.gguf_name == "output.weight") continue;  // tied below
      return Status::Error(path + ": missing tensor '" + p.gguf_name + "' (expected ggml shape " +
                           NeText(p.ne) + ")");
    }
    if (t->ne != p.ne) {
      return Status::Error(path + ": tensor '" + t->name + "': expected ggml shape " + NeText(p.ne) +
                           " for the config in the metadata, got " + NeText(t->ne));
    }
    GPT2Q_RETURN_IF_ERROR(CheckFinite(path, *t, CountNonFinite(*file, *t), options, nonfinite));
    std::optional<std::string_view> format = FormatOfGgmlType(t->type);
    if (p.matrix != nullptr) {
      GPT2Q_ASSIGN_OR_RETURN(*p.matrix, LoadMatrix(*file, *t));
    } else {
      GPT2Q_ASSIGN_OR_RETURN(auto values, LoadVector(*file, *t));
      *p.span = values.first;
      w.owners.push_back(std::move(values.second));
      format = "fp32";
    }
    out.tensors.push_back({t->name, TypeName(t->type), std::string(format.value_or("?")), t->ne, t->nbytes});
  }
  // The head written twice (as llama.cpp's converter does) is one matrix
  // again when both copies hold the same bytes.
  const GgufTensor* head = file->FindTensor("output.weight");
  const GgufTensor* embd = file->FindTensor("token_embd.weight");
  bool tie = head == nullptr;
  if (!tie && head->type == embd->type && head->nbytes == embd->nbytes) {
    // The comparison reads every page of both; owners of their own hand them back after it.
    std::shared_ptr<const void> head_scan = file->TensorOwner(*head), embd_scan = file->TensorOwner(*embd);
    tie = std::memcmp(head->data, embd->data, static_cast<size_t>(head->nbytes)) == 0;
  }
  if (tie) w.lm_head = w.wte;
  return out;
}

}  // namespace gpt2q
