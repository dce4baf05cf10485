// Result tables: results.json / .csv / .md, samples.md, sorting and the
// aligned terminal table.
#include "report/results_io.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>

namespace gpt2q {
namespace {

// JSON number, or null when not finite.
nlohmann::ordered_json Num(double v) {
  if (!std::isfinite(v)) return nullptr;
  return v;
}

nlohmann::ordered_json ConfigJson(const ModelConfigInfo& c) {
  nlohmann::ordered_json j;
  j["n_embd"] = c.n_embd;
  j["n_layer"] = c.n_layer;
  j["n_head"] = c.n_head;
  j["n_positions"] = c.n_positions;
  j["n_vocab"] = c.n_vocab;
  j["n_inner"] = c.n_inner;
  j["layer_norm_epsilon"] = c.layer_norm_epsilon;
  j["activation_function"] = c.activation_function;
  j["n_params"] = c.n_params;
  return j;
}

nlohmann::ordered_json ResultJson(const MethodResult& r) {
  nlohmann::ordered_json j;
  j["method"] = r.method;
  j["scope"] = r.scope;
  j["mode"] = r.mode;
  j["format"] = r.format;
  j["label"] = MethodLabel(r);
  j["weights_bytes"] = r.weights_bytes;
  j["fp32_bytes"] = r.fp32_bytes;
  j["compression"] = {{"fraction", r.compression_fraction()}, {"ratio", r.compression_ratio()}};
  j["hf_footprint_bytes"] =
      r.hf_footprint_bytes ? nlohmann::ordered_json(*r.hf_footprint_bytes) : nullptr;
  j["peak_forward_bytes"] = r.peak_forward_bytes;
  j["loss"] = Num(r.loss);
  j["ppl"] = Num(r.ppl);
  j["ppl_stderr"] = Num(r.ppl_stderr);
  j["delta_ppl"] = Num(r.delta_ppl);
  j["kld"] = {{"mean", Num(r.kld_mean)}, {"stderr", Num(r.kld_stderr)},
              {"median", Num(r.kld_median)}, {"p99", Num(r.kld_p99)}, {"max", Num(r.kld_max)}};
  j["top1_agree"] = Num(r.top1_agree);
  j["top1_agree_stderr"] = Num(r.top1_agree_stderr);
  j["rms_delta_p"] = Num(r.rms_delta_p);
  j["eval_s"] = Num(r.eval_s);
  j["tokens_per_s"] = Num(r.tokens_per_s);
  j["quantize_s"] = Num(r.quantize_s);
  j["prefill_tokens_per_s"] = Num(r.prefill_tokens_per_s);
  j["fp32_prefill_tokens_per_s"] = Num(r.fp32_prefill_tokens_per_s);
  j["decode_tokens_per_s"] = Num(r.decode_tokens_per_s);
  j["decode_tokens"] = r.decode_tokens;
  auto tensors = nlohmann::ordered_json::array();
  for (const TensorError& t : r.per_tensor) {
    tensors.push_back({{"tensor", t.tensor}, {"mse", Num(t.mse)}, {"sqnr_db", Num(t.sqnr_db)},
                       {"max_abs_err", Num(t.max_abs_err)}});
  }
  j["per_tensor"] = std::move(tensors);
  auto samples = nlohmann::ordered_json::array();
  for (const Sample& s : r.samples) samples.push_back({{"prompt", s.prompt}, {"text", s.text}});
  j["samples"] = std::move(samples);
  j["notes"] = r.notes;
  return j;
}

// Key for sorting: smaller first; NaN maps to +inf so it goes last.
double SortValue(const MethodResult& r, SortKey key) {
  double v = 0;
  switch (key) {
    case SortKey::kPpl: v = r.ppl; break;
    case SortKey::kKld: v = r.kld_mean; break;
    case SortKey::kBytes: v = static_cast<double>(r.weights_bytes); break;
    case SortKey::kSpeed: v = -r.tokens_per_s; break;
  }
  return std::isnan(v) ? std::numeric_limits<double>::infinity() : v;
}

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// Full-precision number for CSV; empty when not finite.
std::string CsvNumber(double v) {
  if (!std::isfinite(v)) return "";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.10g", v);
  return buf;
}

std::string MarkdownCell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n' || c == '\r') out += ' ';
    else out += c;
  }
  return out;
}

// Display width of UTF-8 text: one column per code point.
size_t DisplayWidth(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// The longest run of backticks in `s`, so a fence can be longer.
size_t LongestBacktickRun(const std::string& s) {
  size_t best = 0, run = 0;
  for (char c : s) {
    run = c == '`' ? run + 1 : 0;
    best = std::max(best, run);
  }
  return best;
}

std::string RunLine(const RunInfo& run) {
  return "Model `" + run.model_name + "` (" + std::to_string(run.config.n_params) +
         " parameters), text `" + run.text_path + "` (" + std::to_string(run.text_tokens) +
         " tokens), ctx " + std::to_string(run.ctx) + ", stride " + std::to_string(run.stride) +
         ", seed " + std::to_string(run.seed) + ", " + std::to_string(run.threads) +
         " threads, gpt2q " + run.version + ", " + run.date + ".";
}

}  // namespace

std::string MethodLabel(const MethodResult& result) {
  return result.method + " [" + result.scope + ", " + result.mode + "]";
}

Result<SortKey> ParseSortKey(const std::string& name) {
  if (name == "ppl") return SortKey::kPpl;
  if (name == "kld") return SortKey::kKld;
  if (name == "bytes") return SortKey::kBytes;
  if (name == "speed") return SortKey::kSpeed;
  return Status::Error("unknown sort key '" + name + "': expected one of ppl, kld, bytes, speed");
}

void SortResults(std::vector<MethodResult>& results, SortKey key) {
  std::stable_sort(results.begin(), results.end(),
                   [key](const MethodResult& a, const MethodResult& b) {
                     return SortValue(a, key) < SortValue(b, key);
                   });
}

nlohmann::ordered_json ResultsToJson(const RunInfo& run, const std::vector<MethodResult>& results) {
  nlohmann::ordered_json j;
  j["schema_version"] = kResultsSchemaVersion;
  nlohmann::ordered_json r;
  r["model_name"] = run.model_name;
  r["model_path"] = run.model_path;
  r["config"] = ConfigJson(run.config);
  r["text_path"] = run.text_path;
  r["text_chars"] = run.text_chars;
  r["text_tokens"] = run.text_tokens;
  r["ctx"] = run.ctx;
  r["stride"] = run.stride;
  r["seed"] = run.seed;
  r["threads"] = run.threads;
  r["version"] = run.version;
  r["date"] = run.date;
  r["command_line"] = run.command_line;
  nlohmann::ordered_json settings = nlohmann::ordered_json::object();
  for (const auto& [key, value] : run.settings) settings[key] = value;
  r["settings"] = std::move(settings);
  j["run"] = std::move(r);
  auto list = nlohmann::ordered_json::array();
  for (const MethodResult& m : results) list.push_back(ResultJson(m));
  j["results"] = std::move(list);
  return j;
}

std::string FormatNumber(double value, int digits) {
  if (std::isnan(value)) return "-";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*g", digits, value);
  return buf;
}

std::string FormatMegabytes(int64_t bytes) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.2f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

std::vector<std::vector<std::string>> SummaryTableCells(const std::vector<MethodResult>& results) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"Method", "Scope", "Mode", "Format", "Weights", "Compression", "PPL", "ΔPPL",
                  "KLD mean", "KLD p99", "Top-1 agree", "tok/s", "Quantize s"});
  for (const MethodResult& r : results) {
    char compression[64];
    std::snprintf(compression, sizeof(compression), "%.1f%% (%.2f×)",
                  100.0 * r.compression_fraction(), r.compression_ratio());
    std::string ppl = FormatNumber(r.ppl, 6);
    if (std::isfinite(r.ppl_stderr)) ppl += " ± " + FormatNumber(r.ppl_stderr, 3);
    std::string top1 = "-";
    if (std::isfinite(r.top1_agree)) {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "%.2f%%", 100.0 * r.top1_agree);
      top1 = buf;
    }
    rows.push_back({r.method, r.scope, r.mode, r.format, FormatMegabytes(r.weights_bytes),
                    compression, ppl, FormatNumber(r.delta_ppl, 4), FormatNumber(r.kld_mean, 4),
                    FormatNumber(r.kld_p99, 4), top1, FormatNumber(r.tokens_per_s, 4),
                    FormatNumber(r.quantize_s, 3)});
  }
  return rows;
}

std::string ResultsMarkdownTable(const std::vector<MethodResult>& results) {
  const auto rows = SummaryTableCells(results);
  std::string out;
  for (size_t i = 0; i < rows.size(); ++i) {
    out += "|";
    for (const std::string& cell : rows[i]) {
      out += ' ';
      out += MarkdownCell(cell);
      out += " |";
    }
    out += "\n";
    if (i == 0) {
      out += "|";
      for (size_t c = 0; c < rows[0].size(); ++c) out += c < 4 ? " --- |" : " ---: |";
      out += "\n";
    }
  }
  return out;
}

std::string FormatTerminalTable(const std::vector<MethodResult>& results) {
  const auto rows = SummaryTableCells(results);
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], DisplayWidth(row[c]));
  }
  std::string out;
  for (size_t i = 0; i < rows.size(); ++i) {
    std::string line;
    for (size_t c = 0; c < rows[i].size(); ++c) {
      const std::string& cell = rows[i][c];
      const std::string pad(width[c] - DisplayWidth(cell), ' ');
      if (c > 0) line += "  ";
      line += c < 4 ? cell + pad : pad + cell;  // text left, numbers right
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
    if (i == 0) {
      size_t total = 0;
      for (size_t w : width) total += w;
      out += std::string(total + 2 * (width.size() - 1), '-') + "\n";
    }
  }
  return out;
}

Status WriteTextFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return Status::Error(path + ": cannot open for writing");
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  out.close();
  if (!out) return Status::Error(path + ": write failed");
  return OkStatus();
}

Status WriteResultsJson(const std::string& path, const RunInfo& run,
                        const std::vector<MethodResult>& results) {
  return WriteTextFile(path, ResultsToJson(run, results).dump(2) + "\n");
}

Status WriteResultsCsv(const std::string& path, const std::vector<MethodResult>& results) {
  std::string out =
      "method,scope,mode,format,weights_bytes,fp32_bytes,compression_fraction,"
      "compression_ratio,hf_footprint_bytes,peak_forward_bytes,loss,ppl,ppl_stderr,delta_ppl,"
      "kld_mean,kld_stderr,kld_median,kld_p99,kld_max,top1_agree,top1_agree_stderr,"
      "rms_delta_p,eval_s,tokens_per_s,quantize_s,prefill_tokens_per_s,fp32_prefill_tokens_per_s,"
      "decode_tokens_per_s,decode_tokens\n";
  for (const MethodResult& r : results) {
    std::vector<std::string> f = {
        CsvField(r.method), CsvField(r.scope), CsvField(r.mode), CsvField(r.format),
        std::to_string(r.weights_bytes), std::to_string(r.fp32_bytes),
        CsvNumber(r.compression_fraction()), CsvNumber(r.compression_ratio()),
        r.hf_footprint_bytes ? std::to_string(*r.hf_footprint_bytes) : "",
        std::to_string(r.peak_forward_bytes), CsvNumber(r.loss), CsvNumber(r.ppl),
        CsvNumber(r.ppl_stderr), CsvNumber(r.delta_ppl), CsvNumber(r.kld_mean),
        CsvNumber(r.kld_stderr), CsvNumber(r.kld_median), CsvNumber(r.kld_p99),
        CsvNumber(r.kld_max), CsvNumber(r.top1_agree), CsvNumber(r.top1_agree_stderr),
        CsvNumber(r.rms_delta_p), CsvNumber(r.eval_s), CsvNumber(r.tokens_per_s),
        CsvNumber(r.quantize_s), CsvNumber(r.prefill_tokens_per_s), CsvNumber(r.fp32_prefill_tokens_per_s),
        CsvNumber(r.decode_tokens_per_s), std::to_string(r.decode_tokens)};
    for (size_t i = 0; i < f.size(); ++i) out += (i ? "," : "") + f[i];
    out += "\n";
  }
  return WriteTextFile(path, out);
}

Status WriteResultsMarkdown(const std::string& path, const RunInfo& run,
                            const std::vector<MethodResult>& results) {
  std::string out = "# gpt2q compare: " + MarkdownCell(run.model_name) + "\n\n" + RunLine(run) +
                    "\n\n" + ResultsMarkdownTable(results);
  bool any_note = false;
  for (const MethodResult& r : results) {
    for (const std::string& note : r.notes) {
      if (!any_note) out += "\nNotes:\n\n";
      any_note = true;
      out += "- " + MethodLabel(r) + ": " + note + "\n";
    }
  }
  return WriteTextFile(path, out);
}

Status WriteSamplesMarkdown(const std::string& path, const RunInfo& run,
                            const std::vector<MethodResult>& results) {
  std::string out = "# Generated samples: " + run.model_name + "\n";
  for (const MethodResult& r : results) {
    out += "\n## " + MethodLabel(r) + "\n";
    if (r.samples.empty()) out += "\n(no samples)\n";
    for (const Sample& s : r.samples) {
      const std::string fence(std::max<size_t>(3, LongestBacktickRun(s.text) + 1), '`');
      const std::string pfence(std::max<size_t>(3, LongestBacktickRun(s.prompt) + 1), '`');
      out += "\nPrompt:\n\n" + pfence + "text\n" + s.prompt + "\n" + pfence + "\n\nOutput:\n\n" +
             fence + "text\n" + s.text + "\n" + fence + "\n";
    }
  }
  return WriteTextFile(path, out);
}

}  // namespace gpt2q
