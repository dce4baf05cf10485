// Plain result records of a `gpt2q compare` run: what the writers, plots and the
// HTML report consume. No model dependency: the app fills these from eval/quant.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace gpt2q {

// A value that was not measured (written as JSON null, CSV/markdown empty or "-").
inline constexpr double kNotMeasured = std::numeric_limits<double>::quiet_NaN();

// Error of one dequantized tensor against its fp32 original.
struct TensorError {
  std::string tensor;        // e.g. "h.0.attn.c_attn.weight"
  double mse = 0;            // mean squared error
  double sqnr_db = 0;        // 10·log10(Σw² / Σ(w−w')²); +inf when exact
  double max_abs_err = 0;    // max |w − w'|
};

// One generated text of a method.
struct Sample {
  std::string prompt;
  std::string text;          // prompt + continuation, as generated
};

// Everything measured for one method × scope × mode (spec §4). The fp32 baseline
// is a MethodResult too (method "fp32"). Doubles set to kNotMeasured are unknown.
struct MethodResult {
  std::string method;        // spec string, e.g. "nf4:block=64,double=1"
  std::string scope;         // e.g. "linear", "no-lm-head"
  std::string mode;          // "packed" or "simulate"
  std::string format;        // storage format name(s), e.g. "nf4" or "int8+fp32"

  // Memory, bytes.
  int64_t weights_bytes = 0;            // all stored weights in their formats
  int64_t fp32_bytes = 0;               // the same tensors in fp32
  std::optional<int64_t> hf_footprint_bytes;  // what HF get_memory_footprint() would print
  int64_t peak_forward_bytes = 0;       // peak of one forward window (tracked + RSS, §4)

  // Quality against the text (nats; ppl = exp(loss)).
  double loss = kNotMeasured;
  double ppl = kNotMeasured;
  double ppl_stderr = kNotMeasured;
  double delta_ppl = kNotMeasured;      // ppl − ppl_fp32

  // KL(p_fp32 ‖ p_quant) per scored token, nats.
  double kld_mean = kNotMeasured;
  double kld_stderr = kNotMeasured;
  double kld_median = kNotMeasured;
  double kld_p99 = kNotMeasured;
  double kld_max = kNotMeasured;
  double top1_agree = kNotMeasured;     // share of tokens whose argmax matches fp32, [0, 1]
  double top1_agree_stderr = kNotMeasured;
  double rms_delta_p = kNotMeasured;    // RMS change of the correct token's probability

  // Time.
  double eval_s = kNotMeasured;
  double tokens_per_s = kNotMeasured;
  double quantize_s = kNotMeasured;

  // Speed. Prefill: every evaluation window through the forward pass with
  // logits at every position (the perplexity workload); fp32's figure is timed
  // in the same windows, alternating with this method's. Decode: batch-1
  // decode while generating the samples (decode_tokens tokens).
  double prefill_tokens_per_s = kNotMeasured;
  double fp32_prefill_tokens_per_s = kNotMeasured;
  double decode_tokens_per_s = kNotMeasured;
  int64_t decode_tokens = 0;

  std::vector<TensorError> per_tensor;  // in model order
  std::vector<Sample> samples;
  std::vector<std::string> notes;       // e.g. "simulate: memory does not shrink"

  // 1 − weights_bytes / fp32_bytes; 0 when fp32_bytes is 0.
  double compression_fraction() const {
    return fp32_bytes > 0 ? 1.0 - static_cast<double>(weights_bytes) / fp32_bytes : 0.0;
  }
  // fp32_bytes / weights_bytes; 0 when weights_bytes is 0.
  double compression_ratio() const {
    return weights_bytes > 0 ? static_cast<double>(fp32_bytes) / weights_bytes : 0.0;
  }
};

// Returns "METHOD [SCOPE, MODE]", the label used in tables, legends and axes.
std::string MethodLabel(const MethodResult& result);

// The model's config as loaded (GPT2Config fields).
struct ModelConfigInfo {
  int64_t n_embd = 0, n_layer = 0, n_head = 0, n_positions = 0, n_vocab = 0;
  int64_t n_inner = 0;                  // MLP width actually used (4·n_embd when null)
  double layer_norm_epsilon = 0;
  std::string activation_function;
  int64_t n_params = 0;
};

// Where and how a run was made: enough to reproduce it from the report alone.
struct RunInfo {
  std::string model_name;               // e.g. "gpt2-tiny-shakespeare"
  std::string model_path;
  ModelConfigInfo config;
  std::string text_path;
  int64_t text_chars = 0;
  int64_t text_tokens = 0;
  std::string text;                     // the evaluation text itself (may be empty)
  int64_t ctx = 0, stride = 0;
  uint64_t seed = 0;
  int threads = 0;
  std::string version;                  // gpt2q version
  std::string date;                     // ISO 8601
  std::string command_line;
  // Every other setting (calibration, generation, histogram options ...), in order.
  std::vector<std::pair<std::string, std::string>> settings;
};

// Counts of original and dequantized weights in equal bins over [lo, hi).
struct HistogramData {
  std::string model_name;               // "gpt2" in "Original (gpt2) vs Quantized (gpt2_nf4)"
  std::string method_label;             // "nf4" in the title
  std::vector<double> bin_edges;        // bins + 1 increasing edges
  std::vector<int64_t> original_counts; // [bins]
  std::vector<int64_t> quantized_counts;// [bins]
  int64_t original_plotted = 0;         // values inside [lo, hi]
  int64_t quantized_plotted = 0;
  int64_t original_total = 0;           // all values seen
  int64_t quantized_total = 0;
};

}  // namespace gpt2q
