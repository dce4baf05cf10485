// RoundWeightsToFp16 and SaveHfBnbCheckpoint: a quantized GPT-2 written as
// transformers' save_pretrained writes a bitsandbytes model.
#include "model/hf_bnb_writer.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/aligned_buffer.h"
#include "core/half.h"
#include "formats/bnb4.h"
#include "formats/fp32_matrix.h"
#include "formats/llm_int8.h"
#include "formats/stored_parts.h"
#include "io/safetensors.h"
#include "model/checkpoint.h"
#include "model/config.h"
#include "model/hf_bnb_layout.h"

namespace gpt2q {
namespace {

// Rounds `n` values to fp16 into a new buffer; an error naming `name` for a
// finite value that fp16 cannot hold.
Result<std::shared_ptr<AlignedBuffer>> RoundedCopy(const std::string& name, const float* v, int64_t n) {
  auto buf = std::make_shared<AlignedBuffer>(static_cast<size_t>(n) * sizeof(float));
  float* out = buf->as<float>();
  for (int64_t i = 0; i < n; ++i) {
    out[i] = Fp16ToFloat(FloatToFp16(v[i]));
    if (std::isinf(out[i]) && std::isfinite(v[i])) {
      return Status::Error("tensor '" + name + "': value " + std::to_string(v[i]) + " at index " +
                           std::to_string(i) + " is beyond fp16's range (max 65504); a bitsandbytes "
                           "checkpoint stores it as float16");
    }
  }
  return buf;
}

// Returns the F16 bits of `n` values that must be fp16-exact; an error naming `name` otherwise.
Result<std::vector<uint8_t>> ExactF16(const std::string& name, const float* v, int64_t n) {
  std::vector<uint8_t> bytes(static_cast<size_t>(2 * n));
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t h = FloatToFp16(v[i]);
    if (FloatToBits(Fp16ToFloat(h)) != FloatToBits(v[i]) && !std::isnan(v[i])) {
      return Status::Error("tensor '" + name + "': value " + std::to_string(v[i]) + " at index " +
                           std::to_string(i) + " is not an fp16 value; expected weights rounded "
                           "with RoundWeightsToFp16 (the layout stores them as float16)");
    }
    std::memcpy(bytes.data() + 2 * i, &h, 2);
  }
  return bytes;
}

// safetensors' Dtype enum order (serialize sorts by it, descending, then by name).
int DtypeRank(Dtype d) {
  switch (d) {
    case Dtype::kU8: return 1;
    case Dtype::kI8: return 2;
    case Dtype::kF16: return 7;
    default: return 11;  // F32
  }
}

class Writer {
 public:
  // Adds a tensor whose bytes the writer keeps.
  void Add(std::string name, Dtype dtype, std::vector<int64_t> shape, std::vector<uint8_t> bytes) {
    const std::vector<uint8_t>& kept = bytes_.emplace_back(std::move(bytes));
    tensors_.push_back({std::move(name), dtype, std::move(shape), kept.data(),
                        static_cast<int64_t>(kept.size())});
  }
  template <typename T>
  void AddValues(std::string name, Dtype dtype, std::vector<int64_t> shape, const T* v, int64_t n) {
    const auto* p = reinterpret_cast<const uint8_t*>(v);
    Add(std::move(name), dtype, std::move(shape), std::vector<uint8_t>(p, p + n * sizeof(T)));
  }
  Status Write(const std::string& path) {
    std::sort(tensors_.begin(), tensors_.end(), [](const TensorToWrite& a, const TensorToWrite& b) {
      const int ra = DtypeRank(a.dtype), rb = DtypeRank(b.dtype);
      return ra != rb ? ra > rb : a.name < b.name;
    });
    return WriteSafetensors(path, tensors_, {{"format", "pt"}});
  }

 private:
  std::deque<std::vector<uint8_t>> bytes_;
  std::vector<TensorToWrite> tensors_;
};

}  // namespace

Status RoundWeightsToFp16(ModelWeights& weights) {
  Status status;
  ForEachMatrix(weights, [&](const std::string& name, ParamKind, std::shared_ptr<WeightMatrix>& m) {
    if (!status.ok()) return;
    const auto* fp32 = dynamic_cast<const Fp32Matrix*>(m.get());
    if (fp32 == nullptr) {
      status = Status::Error("tensor '" + name + "': expected an fp32 weight to round to fp16, got " +
                             m->format() + " (already quantized)");
      return;
    }
    Result<std::shared_ptr<AlignedBuffer>> buf = RoundedCopy(name, fp32->data(), m->rows() * m->cols());
    if (!buf.ok()) {
      status = buf.status();
      return;
    }
    const float* data = (*buf)->as<float>();
    m = std::make_shared<Fp32Matrix>(data, m->rows(), m->cols(), fp32->layout(), *buf);
  });
  GPT2Q_RETURN_IF_ERROR(status);
  ForEachVector(weights, [&](const std::string& name, ParamKind, FloatSpan& span) {
    if (!status.ok()) return;
    Result<std::shared_ptr<AlignedBuffer>> buf = RoundedCopy(name, span.data, span.size);
    if (!buf.ok()) {
      status = buf.status();
      return;
    }
    span.data = (*buf)->as<float>();
    weights.owners.push_back(*buf);
  });
  return status;
}

Status SaveHfBnbCheckpoint(const ModelWeights& weights, const std::string& dir) {
  GPT2Q_RETURN_IF_ERROR(PrepareCheckpointDir(weights, dir));
  const GPT2Config& c = weights.config;
  ModelWeights view = weights;  // shallow: ForEach* need a mutable model
  Writer writer;
  HfBnbQuantConfig qc;
  std::string first_format, first_params;  // of the first block linear: all must agree
  Status status;
  auto fail = [&](const std::string& message) {
    if (status.ok()) status = Status::Error(dir + ": " + message);
  };
  ForEachMatrix(view, [&](const std::string& name, ParamKind kind, std::shared_ptr<WeightMatrix>& m) {
    if (!status.ok()) return;
    const std::string module = name.substr(0, name.size() - std::strlen(".weight"));
    const std::string out_name = kind == ParamKind::kHead ? name : kHfBnbPrefix + name;
    if (kind != ParamKind::kLinear) {
      const auto* fp32 = dynamic_cast<const Fp32Matrix*>(m.get());
      if (fp32 == nullptr || fp32->layout() != Fp32Layout::kOutIn) {
        fail("tensor '" + name + "': expected an unquantized [rows, cols] weight (transformers keeps the "
             "embedding and head in float16), got " + m->format() + "; quantize with scope no-lm-head");
        return;
      }
      Result<std::vector<uint8_t>> f16 = ExactF16(name, fp32->data(), m->rows() * m->cols());
      if (!f16.ok()) return fail(f16.message());
      writer.Add(out_name, Dtype::kF16, {m->rows(), m->cols()}, std::move(*f16));
      return;
    }
    StoredMatrix stored = m->Store();
    const std::string params = ParamsToText(stored.params);
    if (first_format.empty()) {
      first_format = m->format();
      first_params = params;
    } else if (m->format() != first_format || params != first_params) {
      fail("tensor '" + name + "': expected " + first_format + " (" + first_params + ") as the first "
           "block linear (one quantization_config describes them all), got " + m->format() + " (" + params + ")");
      return;
    }
    if (const auto* int8 = dynamic_cast<const LlmInt8Matrix*>(m.get())) {
      qc.load_in_8bit = true;
      qc.llm_int8_threshold = int8->threshold();
      for (const StoredPart& part : stored.parts) {
        if (part.suffix == "codes") writer.Add(out_name, Dtype::kI8, {m->rows(), m->cols()}, part.bytes);
        if (part.suffix == "scales") writer.Add(kHfBnbPrefix + module + ".SCB", Dtype::kF32, {m->rows()}, part.bytes);
      }
      writer.Add(kHfBnbPrefix + module + ".weight_format", Dtype::kU8, {}, {0});  // "row"
      return;
    }
    const auto* bnb4 = dynamic_cast<const Bnb4Matrix*>(m.get());
    if (bnb4 == nullptr) {
      fail("tensor '" + name + "': expected llm-int8, nf4 or fp4 (what bitsandbytes stores), got " +
           m->format());
      return;
    }
    const Bnb4Matrix::Storage& s = bnb4->storage();
    qc.load_in_4bit = true;
    qc.bnb_4bit_quant_type = m->format();
    qc.bnb_4bit_use_double_quant = bnb4->options().double_quant;
    const int64_t n_codes = static_cast<int64_t>(s.codes.size());
    writer.AddValues(out_name, Dtype::kU8, {n_codes, 1}, s.codes.data(), n_codes);
    const std::string w = out_name + ".";
    writer.AddValues(w + "quant_map", Dtype::kF32, {16}, Bnb4Codebook(bnb4->kind()).data(), 16);
    Bnb4QuantState state;
    state.quant_type = m->format();
    state.blocksize = bnb4->options().block;
    state.dtype = "float16";  // transformers casts the weight to float16 before quantizing
    state.rows = m->rows();
    state.cols = m->cols();
    if (bnb4->options().double_quant) {
      const int64_t n_nested = static_cast<int64_t>(s.nested_absmax.size());
      writer.AddValues(w + "absmax", Dtype::kU8, {bnb4->n_blocks()}, s.qabsmax.data(), bnb4->n_blocks());
      writer.AddValues(w + "nested_absmax", Dtype::kF32, {n_nested}, s.nested_absmax.data(), n_nested);
      const float* map = s.nested_map.empty() ? DynamicMap8().data() : s.nested_map.data();
      writer.AddValues(w + "nested_quant_map", Dtype::kF32, {256}, map, 256);
      state.nested = true;
      state.nested_offset = s.offset;
    } else {
      writer.AddValues(w + "absmax", Dtype::kF32, {bnb4->n_blocks()}, s.absmax.data(), bnb4->n_blocks());
    }
    const std::string json = Bnb4QuantStateJson(state);
    writer.AddValues(w + "quant_state.bitsandbytes__" + m->format(), Dtype::kU8,
                     {static_cast<int64_t>(json.size())}, json.data(), static_cast<int64_t>(json.size()));
  });
  GPT2Q_RETURN_IF_ERROR(status);
  if (!qc.load_in_8bit && !qc.load_in_4bit) {
    return Status::Error(dir + ": the model has no block linears to store");
  }
  ForEachVector(view, [&](const std::string& name, ParamKind kind, FloatSpan& span) {
    if (!status.ok()) return;
    if (kind == ParamKind::kActScale) {
      return fail("tensor '" + name + "' (AWQ's GELU scale) has no place in a transformers checkpoint");
    }
    Result<std::vector<uint8_t>> f16 = ExactF16(name, span.data, span.size);
    if (!f16.ok()) return fail(f16.message());
    const std::vector<int64_t> shape = kind == ParamKind::kPosition ? std::vector<int64_t>{c.n_ctx, c.n_embd}
                                                                    : std::vector<int64_t>{span.size};
    writer.Add(kHfBnbPrefix + name, Dtype::kF16, shape, std::move(*f16));
  });
  GPT2Q_RETURN_IF_ERROR(status);
  GPT2Q_RETURN_IF_ERROR(writer.Write(dir + "/model.safetensors"));

  nlohmann::json config = nlohmann::json::parse(ConfigToJson(c));  // keys sorted, as sort_keys=True
  config["tie_word_embeddings"] = view.head_tied();
  config["torch_dtype"] = "float16";
  config["quantization_config"] = nlohmann::json::parse(HfBnbQuantConfigJson(qc));
  const std::string path = dir + "/config.json";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return Status::Error(path + ": cannot create: " + std::strerror(errno));
  const std::string text = config.dump(2) + "\n";
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) return Status::Error(path + ": write failed: " + std::strerror(errno));
  return OkStatus();
}

}  // namespace gpt2q
