// Quantized checkpoints: a GPT-2 folder whose model.safetensors holds each
// quantized matrix as its format's parts ("NAME.codes", "NAME.scales", ...)
// with the format and params in the header metadata, so that LoadCheckpoint
// rebuilds the same WeightMatrix objects and evaluation is bit-identical.
//
// Metadata keys (all strings): gpt2q.version ("1"), gpt2q.quant (the canonical
// spec), gpt2q.scope (scope label), gpt2q.mode ("packed"), gpt2q.tied ("1" when
// the head is the embedding), and per stored matrix NAME ("h.0.mlp.c_fc.weight"):
// gpt2q.format.NAME (format table name), gpt2q.params.NAME ("key=value,...")
// and gpt2q.shape.NAME ("rows,cols", [out_features, in_features]).
// Matrices left as fp32 in GPT-2's usual layout, and every vector, are plain
// Hugging Face tensors (Conv1D weights [in, out]).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "core/status.h"
#include "formats/format.h"
#include "io/safetensors.h"
#include "model/weights.h"

namespace gpt2q {

// The value of gpt2q.version this code writes and reads.
inline constexpr char kQuantizedCheckpointVersion[] = "1";

// What the quantization was, recorded in the metadata.
struct QuantizedCheckpointInfo {
  std::string quant;  // canonical spec string
  std::string scope;  // scope label
  std::string mode = "packed";
};

// Returns what gpt2q.quant, gpt2q.scope and gpt2q.mode of `file` record, or
// nullopt for a plain checkpoint (no gpt2q.version); an error naming the file
// and the key when a gpt2q checkpoint lacks one of them or has another version.
Result<std::optional<QuantizedCheckpointInfo>> ReadQuantizedCheckpointInfo(const SafetensorsFile& file);

// Writes `dir`/model.safetensors (layout above) and `dir`/config.json,
// creating `dir`. Writes nothing else (see CopyTokenizerFiles).
Status SaveQuantizedCheckpoint(const ModelWeights& weights, const std::string& dir,
                               const QuantizedCheckpointInfo& info);

// One stored matrix of a quantized checkpoint, before it is rebuilt.
struct StoredMatrixEntry {
  const FormatTraits* format = nullptr;
  FormatParams params;
  int64_t rows = 0, cols = 0;  // from gpt2q.shape.NAME
  StoredParts parts;           // views into the file
};

// The stored matrices of a file, by bare tensor name, and the names of the
// file's tensors that are their parts. Empty for a plain checkpoint.
struct QuantizedTensors {
  std::map<std::string, StoredMatrixEntry> matrices;
  std::set<std::string> part_names;
};

// Reads the gpt2q metadata of `file`: an error (naming the file, the tensor and
// expected vs actual) for an unsupported version, an unknown format name, bad
// params or shape text, or a stored matrix without parts.
Result<QuantizedTensors> ReadQuantizedTensors(const SafetensorsFile& file);

// Rebuilds `entry` as a [rows, cols] matrix with its format's `load`; an error
// if the recorded shape is not [rows, cols] or a part is wrong.
Result<std::shared_ptr<WeightMatrix>> LoadStoredMatrix(const std::string& name,
                                                       const StoredMatrixEntry& entry,
                                                       int64_t rows, int64_t cols);

}  // namespace gpt2q
