// What the gpt2q commands do with GGUF files: load one as a MODEL, write the
// tokenizer files of one, and --export gguf.
#pragma once

#include <string>
#include <vector>

#include "common.h"
#include "core/status.h"
#include "quant_options.h"

namespace gpt2q {

// Returns true when `model` names a file (not a folder): a GGUF to load.
bool IsGgufModelPath(const std::string& model);

// Loads `options.model`, a .gguf of architecture gpt2 (model/gguf_checkpoint.h),
// with the tokenizer its metadata holds. A file with weights in block formats
// is labelled like a gpt2q quantized checkpoint (recorded: its formats, scope
// "gguf"), so --quant refuses to quantize it again.
Result<LoadedModel> LoadGgufModel(const ModelOptions& options, ThreadPool& pool);

// Returns the tokenizer of the GGUF `path` (tokenizer.ggml.tokens / merges).
Result<std::unique_ptr<Tokenizer>> LoadGgufTokenizer(const std::string& path);

// Writes vocab.json and merges.txt of `loaded` into `dir`: copies of its
// folder's files, or made from a GGUF's tokenizer.ggml.* arrays.
Status WriteTokenizerFiles(const LoadedModel& loaded, const std::string& dir);

// --export gguf: the K-quant tensors QuantizeModel left in fp32 (rows not a
// multiple of 256) fall back as llama-quantize's do (q4_k → q5_0, q6_k → q8_0;
// fp16 where even those blocks cannot tile a row), each with a note in
// applied.report; then the model and its tokenizer are written to `path` as
// GGUF (SaveGguf), general.name = the model's folder or file name.
Status ExportGguf(const QuantOptions& options, LoadedModel& loaded, AppliedQuantization& applied,
                  ThreadPool& pool, const std::string& path);

// One tensor as a file stores it, for `gpt2q info`.
struct StoredTensorRow {
  std::string name;     // as the file spells it
  std::string stored;   // the file's own type ("q4_K" in a GGUF), "" when the same as format
  std::string format;   // the gpt2q format it loads as
  std::vector<int64_t> shape;
  int64_t bytes = 0;
};

// Returns the tensors of the GGUF `path` in file order.
Result<std::vector<StoredTensorRow>> GgufTensorRows(const std::string& path);

}  // namespace gpt2q
