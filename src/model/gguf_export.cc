// SaveGguf: GPT-2 weights and tokenizer into a GGUF v3 file.
#include "model/gguf_export.h"

#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/aligned_buffer.h"
#include "formats/bf16_matrix.h"
#include "formats/fp16_matrix.h"
#include "formats/fp32_matrix.h"
#include "formats/ggml_formats.h"
#include "io/gguf_writer.h"

namespace gpt2q {
namespace {

// vocab.json and merges.txt are a few MB for GPT-2; refuse absurd files.
constexpr std::streamoff kMaxTokenizerFileBytes = 256 << 20;

Result<std::string> ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return Status::Error(path + ": cannot open");
  const std::streamoff size = in.tellg();
  if (size < 0 || size > kMaxTokenizerFileBytes) {
    return Status::Error(path + ": expected at most " + std::to_string(kMaxTokenizerFileBytes) +
                         " bytes, got " + std::to_string(size));
  }
  std::string text(static_cast<size_t>(size), '\0');
  in.seekg(0);
  if (!in.read(text.data(), size)) return Status::Error(path + ": read failed");
  return text;
}

// llama_ftype values, most compressed first (see GgufFileType).
struct FileTypeRow {
  std::string_view format;
  int64_t file_type;
};
constexpr FileTypeRow kFileTypes[] = {{"q4_0", 2}, {"q4_1", 3}, {"q4_k", 14}, {"q5_0", 8}, {"q5_1", 9},
                                      {"q6_k", 18}, {"q8_0", 7}, {"bf16", 32}, {"fp16", 1}, {"fp32", 0}};

}  // namespace

Result<GgufVocab> ReadHfVocab(const std::string& dir) {
  const std::string vocab_path = dir + "/vocab.json", merges_path = dir + "/merges.txt";
  GPT2Q_ASSIGN_OR_RETURN(std::string vocab_text, ReadText(vocab_path));
  GPT2Q_ASSIGN_OR_RETURN(std::string merges_text, ReadText(merges_path));
  nlohmann::json j = nlohmann::json::parse(vocab_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::Error(vocab_path + ": expected a JSON object");
  GgufVocab vocab;
  const size_t n = j.size();
  vocab.tokens.assign(n, {});
  std::vector<bool> seen(n, false);
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it.value().is_number_unsigned() || it.value().get<uint64_t>() >= n || seen[it.value().get<uint64_t>()]) {
      return Status::Error(vocab_path + ": token '" + it.key() + "': expected a distinct id in [0, " +
                           std::to_string(n) + "), got " + it.value().dump());
    }
    const size_t id = it.value().get<uint64_t>();
    seen[id] = true;
    vocab.tokens[id] = it.key();
  }
  int64_t eot = -1;
  vocab.token_types.assign(n, 1);
  for (size_t i = 0; i < n; ++i) {
    const std::string& t = vocab.tokens[i];
    if (t.size() > 4 && t.compare(0, 2, "<|") == 0 && t.compare(t.size() - 2, 2, "|>") == 0) {
      vocab.token_types[i] = 3;  // CONTROL
    }
    if (t == "<|endoftext|>") eot = static_cast<int64_t>(i);
  }
  if (eot < 0) return Status::Error(vocab_path + ": no token '<|endoftext|>' (GPT-2's bos/eos)");
  vocab.bos_id = vocab.eos_id = vocab.unknown_id = static_cast<int32_t>(eot);
  std::istringstream lines(merges_text);
  std::string line;
  bool first = true;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (first && line.rfind("#version", 0) == 0) {
      first = false;
      continue;
    }
    first = false;
    if (!line.empty()) vocab.merges.push_back(line);
  }
  return vocab;
}

int64_t GgufFileType(const ModelWeights& weights) {
  std::set<std::string> formats;
  for (const GgufParam<const ModelWeights>& p : GgufParams(weights)) {
    if (p.matrix != nullptr && *p.matrix != nullptr) formats.insert((*p.matrix)->format());
  }
  for (const FileTypeRow& row : kFileTypes) {
    if (formats.count(std::string(row.format)) != 0) return row.file_type;
  }
  return 0;
}

Status CheckGgufExportable(const ModelWeights& weights, const std::string& path) {
  for (size_t i = 0; i < weights.blocks.size(); ++i) {
    if (weights.blocks[i].mlp_act_scale.data != nullptr) {
      return Status::Error(path + ": h." + std::to_string(i) +
                           ".mlp.act_scale (AWQ's scale after GELU) has no tensor in llama.cpp's GPT-2; "
                           "a GGUF cannot hold this model");
    }
  }
  for (const GgufParam<const ModelWeights>& p : GgufParams(weights)) {
    if (p.matrix == nullptr) continue;
    const std::string format = (*p.matrix)->format();
    if (!GgmlTypeOfFormat(format)) {
      return Status::Error(path + ": " + p.hf_name + " is stored as " + format +
                           ", which GGUF has no type for; --export gguf takes fp32, fp16, bf16, q8_0, q4_0, "
                           "q4_1, q5_0, q5_1, q4_k and q6_k");
    }
  }
  return OkStatus();
}

Status SaveGguf(const ModelWeights& weights, const GgufVocab& vocab, const std::string& name,
                const std::string& path) {
  GPT2Q_RETURN_IF_ERROR(CheckGgufExportable(weights, path));
  const GPT2Config& c = weights.config;
  if (static_cast<int64_t>(vocab.tokens.size()) != c.n_vocab) {
    return Status::Error(path + ": the tokenizer has " + std::to_string(vocab.tokens.size()) +
                         " tokens, the model's vocabulary " + std::to_string(c.n_vocab) +
                         " rows; GGUF's GPT-2 needs one token per embedding row");
  }
  GgufWriter writer;
  writer.AddString("general.architecture", "gpt2");
  writer.AddString("general.name", name);
  writer.AddU32("gpt2.block_count", static_cast<uint32_t>(c.n_layer));
  writer.AddU32("gpt2.context_length", static_cast<uint32_t>(c.n_ctx));
  writer.AddU32("gpt2.embedding_length", static_cast<uint32_t>(c.n_embd));
  writer.AddU32("gpt2.feed_forward_length", static_cast<uint32_t>(c.n_inner));
  writer.AddU32("gpt2.attention.head_count", static_cast<uint32_t>(c.n_head));
  writer.AddF32("gpt2.attention.layer_norm_epsilon", c.layer_norm_epsilon);
  writer.AddString("tokenizer.ggml.model", "gpt2");
  writer.AddString("tokenizer.ggml.pre", "gpt-2");
  writer.AddStrings("tokenizer.ggml.tokens", vocab.tokens);
  std::vector<int32_t> types = vocab.token_types;
  types.resize(vocab.tokens.size(), 1);
  writer.AddI32s("tokenizer.ggml.token_type", types);
  writer.AddStrings("tokenizer.ggml.merges", vocab.merges);
  writer.AddU32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(vocab.bos_id));
  writer.AddU32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(vocab.eos_id));
  writer.AddU32("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(vocab.unknown_id));
  writer.AddBool("tokenizer.ggml.add_bos_token", false);
  writer.AddU32("general.quantization_version", 2);  // GGML_QNT_VERSION
  writer.AddU32("general.file_type", static_cast<uint32_t>(GgufFileType(weights)));

  std::vector<AlignedBuffer> buffers;  // transposed fp32 weights
  for (const GgufParam<const ModelWeights>& p : GgufParams(weights)) {
    if (p.span != nullptr) {
      int64_t numel = 1;
      for (int64_t d : p.ne) numel *= d;
      if (p.span->data == nullptr || p.span->size != numel) {
        return Status::Error(path + ": " + p.hf_name + ": expected " + std::to_string(numel) + " values, have " +
                             std::to_string(p.span->size));
      }
      writer.AddTensor(p.gguf_name, p.ne, kGgmlF32, p.span->data, numel * 4);
      continue;
    }
    const WeightMatrix& m = **p.matrix;
    if (m.cols() != p.ne[0] || m.rows() != p.ne[1]) {
      return Status::Error(path + ": " + p.hf_name + ": expected a " + std::to_string(p.ne[1]) + "x" +
                           std::to_string(p.ne[0]) + " matrix, have " + std::to_string(m.rows()) + "x" +
                           std::to_string(m.cols()));
    }
    const uint32_t type = *GgmlTypeOfFormat(m.format());
    const void* data = nullptr;
    int64_t nbytes = m.StoredBytes();
    if (const auto* fp32 = dynamic_cast<const Fp32Matrix*>(&m)) {
      data = fp32->data();
      if (fp32->layout() == Fp32Layout::kInOut) {
        AlignedBuffer& buf = buffers.emplace_back(static_cast<size_t>(nbytes));
        for (int64_t r = 0; r < m.rows(); ++r) m.DequantizeRow(r, buf.as<float>() + r * m.cols());
        data = buf.data();
      }
    } else if (const auto* fp16 = dynamic_cast<const Fp16Matrix*>(&m)) {
      data = fp16->data();
    } else if (const auto* bf16 = dynamic_cast<const Bf16Matrix*>(&m)) {
      data = bf16->data();
    } else if (const auto* ggml = dynamic_cast<const GgmlMatrix*>(&m)) {
      data = ggml->row_data(0);
      nbytes = m.rows() * ggml->row_bytes();
    }
    if (data == nullptr) {
      return Status::Error(path + ": " + p.hf_name + ": format " + m.format() + " has no GGUF writer");
    }
    writer.AddTensor(p.gguf_name, p.ne, type, data, nbytes);
  }
  return writer.Write(path);
}

}  // namespace gpt2q
