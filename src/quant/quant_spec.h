// Quantization specs ("METHOD[:key=value,...]"), the method table, modes and scopes.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "calib/windows.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "formats/format.h"
#include "model/weights.h"

namespace gpt2q {

struct MethodParam {
  std::string_view key;
  double default_value;
  std::string_view help;
  // Word-valued options (e.g. act=token|static): the words, stored as their
  // index (default_value is an index); empty for numeric options.
  std::vector<std::string_view> choices = {};
  // Numeric options: the accepted closed range.
  double min = -1e300, max = 1e300;
  // When set, the option applies only while the option of that name is
  // non-zero (e.g. zeroquant's lkd_steps needs lkd=1): the canonical spec
  // omits it otherwise, and giving it explicitly otherwise is an error. An
  // option naming itself (lkd) is omitted from the canonical spec while 0.
  std::string_view only_with = {};
};

struct QuantSpec;
struct QuantizeReport;
struct Scope;
enum class QuantMode;

// What a calibrated method works on (see MethodInfo::calibrate).
struct CalibrateArgs {
  ModelWeights* weights = nullptr;
  const CalibrationWindows* windows = nullptr;  // null when the caller has none
  const QuantSpec* spec = nullptr;  // the method's options (defaults filled in)
  const Scope* scope = nullptr;
  QuantMode mode{};
  ThreadPool* pool = nullptr;
  // Called after each block with (blocks done, n_layer), or by a method with
  // finer steps with (steps done, total steps); may be empty.
  std::function<void(int64_t done, int64_t total)> progress;
  // A short line of what the method is doing (e.g. "block 2/4 step 37/100
  // loss 1.2e-03"), for the progress display; may be empty.
  std::function<void(const std::string& detail)> progress_detail;
};

// A method decides the quantized values; it produces weights in one format.
struct MethodInfo {
  std::string_view name;         // as users type it: "absmax", "llm-int8", "q4_k", ...
  std::string_view description;  // one line for --help and reports
  std::string_view format;       // the format table row it stores into
  std::vector<MethodParam> params;
  // Maps the method's parameters onto the format's (e.g. simquant's bits → levels).
  FormatParams (*to_format_params)(const FormatParams& method_params);
  // Checks the option values when the spec is parsed (so bad values fail
  // before any work), with an error naming the method, the option and the
  // valid values; nullptr leaves them to the format's quantizer.
  Status (*validate)(const FormatParams& method_params) = nullptr;
  // Calibrated methods only (null for one-tensor methods): quantizes the block
  // linears args.scope selects from the calibration windows — replacing
  // matrices, folding scales — and appends one TensorStats per linear it
  // quantized to `report` (QuantizeModel skips those). Whatever else the scope
  // selects (the tied embedding/head, vectors) QuantizeModel then rounds to
  // nearest with `format` and to_format_params, the method's grid.
  Status (*calibrate)(const CalibrateArgs& args, QuantizeReport* report) = nullptr;
  // Methods calibrated only for some options (zeroquant with lkd=1): returns
  // whether these options need calibration; nullptr = whenever calibrate is set.
  bool (*calibrated_when)(const FormatParams& method_params) = nullptr;
};

// Returns every method, in a fixed order.
const std::vector<MethodInfo>& MethodTable();

// A parsed spec: the method and its parameters with defaults filled in.
struct QuantSpec {
  const MethodInfo* method = nullptr;
  FormatParams params;
  // Returns the canonical spec string: "nf4:block=64,double=0".
  std::string ToString() const;
};

// Returns true when `spec` runs its method's calibrate hook: it then needs
// calibration windows (MethodInfo::calibrate and calibrated_when).
bool NeedsCalibration(const QuantSpec& spec);

// Parses "METHOD[:key=value,...]". Unknown methods or keys, values that are not
// numbers (or not one of a word-valued option's words), numbers outside an
// option's range: an error that lists the valid names.
Result<QuantSpec> ParseQuantSpec(std::string_view text);

enum class QuantMode {
  kPacked,    // codes and scales are stored and multiplied: memory really shrinks
  kSimulate,  // quantize then dequantize back to fp32, as the reference notebooks do
};
Result<QuantMode> ParseQuantMode(std::string_view text);
std::string_view QuantModeName(QuantMode mode);

// Which tensors a run quantizes: a preset, then --include / --skip glob patterns
// over Hugging Face's bare tensor names ("h.*.attn.c_attn.weight").
struct Scope {
  std::string preset;  // all-params, linear, no-lm-head, lm-head, last4-attn, qkv, none
  std::vector<std::string> include;
  std::vector<std::string> skip;
  int64_t n_layer = 0;  // for last4-attn

  // Returns true if the tensor `name` of `kind` is quantized under this scope.
  bool Selects(const std::string& name, ParamKind kind) const;
  // Returns a label such as "linear" or "linear+include(h.0.*)-skip(wte.weight)".
  std::string Label() const;
};

// Returns the scope, or an error listing the presets (or naming a bad pattern).
Result<Scope> MakeScope(std::string_view preset, const std::vector<std::string>& include,
                        const std::vector<std::string>& skip, int64_t n_layer);

// Returns the names of the scope presets.
const std::vector<std::string_view>& ScopePresets();

}  // namespace gpt2q
