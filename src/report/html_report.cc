// The self-contained report.html.
#include "report/html_report.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>

#include "report/charts.h"
#include "report/results_io.h"

namespace gpt2q {
namespace {

// Inline style only: the Content-Security-Policy below forbids anything else.
constexpr const char* kStyle = R"(
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 24px auto; max-width: 1200px;
       color: #222; padding: 0 16px; }
h1 { font-size: 24px; } h2 { font-size: 19px; margin-top: 32px; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 12px; margin: 8px 0; }
th, td { border: 1px solid #ccc; padding: 3px 6px; }
th { background: #f0f0f0; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.front td:first-child { font-weight: bold; }
.scroll { overflow-x: auto; }
figure { margin: 16px 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 12px; color: #555; }
pre { background: #f7f7f7; border: 1px solid #e0e0e0; padding: 8px; white-space: pre-wrap;
      font-size: 12px; }
.note { color: #8a4b00; font-size: 13px; }
)";

// Sets data-images-ok on <body> once every image has decoded, so that a
// headless browser test can see that all figures loaded.
constexpr const char* kImageCheck = R"(
window.addEventListener('load', function () {
  var images = document.images, loaded = 0;
  for (var i = 0; i < images.length; ++i) {
    if (images[i].complete && images[i].naturalWidth > 0) ++loaded;
  }
  document.body.setAttribute('data-images-ok', loaded === images.length ? 'yes' : 'no');
  document.body.setAttribute('data-images-loaded', loaded + '/' + images.length);
});
)";

std::string Td(const std::string& text, bool numeric = true) {
  return std::string(numeric ? "<td class=\"num\">" : "<td>") + HtmlEscape(text) + "</td>";
}

std::string WithErr(double v, double err, int digits) {
  std::string s = FormatNumber(v, digits);
  if (std::isfinite(v) && std::isfinite(err)) s += " ± " + FormatNumber(err, 3);
  return s;
}

std::string Percent(double v) {
  if (!std::isfinite(v)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.2f%%", 100 * v);
  return buf;
}

std::string ResultsTable(const std::vector<MethodResult>& results) {
  std::vector<bool> front(results.size(), false);
  for (size_t i : ParetoFront(results)) front[i] = true;
  std::string h =
      "<div class=\"scroll\"><table id=\"results\"><tr><th>Method</th><th>Scope</th><th>Mode</th>"
      "<th>Format</th><th>Weights</th><th>fp32</th><th>Compression</th><th>HF footprint</th>"
      "<th>Peak forward</th><th>Loss</th><th>PPL</th><th>ΔPPL</th><th>KLD mean</th>"
      "<th>KLD median</th><th>KLD p99</th><th>KLD max</th><th>Top-1 agree</th><th>RMS Δp</th>"
      "<th>Eval s</th><th>tok/s</th><th>Quantize s</th><th>Pareto</th></tr>\n";
  for (size_t i = 0; i < results.size(); ++i) {
    const MethodResult& r = results[i];
    char compression[64];
    std::snprintf(compression, sizeof(compression), "%.1f%% (%.2f×)",
                  100 * r.compression_fraction(), r.compression_ratio());
    std::string top1 = Percent(r.top1_agree);
    if (std::isfinite(r.top1_agree) && std::isfinite(r.top1_agree_stderr))
      top1 += " ± " + Percent(r.top1_agree_stderr);
    h += std::string(front[i] ? "<tr class=\"front\">" : "<tr>") + Td(r.method, false) +
         Td(r.scope, false) + Td(r.mode, false) + Td(r.format, false) +
         Td(FormatMegabytes(r.weights_bytes)) + Td(FormatMegabytes(r.fp32_bytes)) +
         Td(compression) +
         Td(r.hf_footprint_bytes ? FormatMegabytes(*r.hf_footprint_bytes) : "-") +
         Td(FormatMegabytes(r.peak_forward_bytes)) + Td(FormatNumber(r.loss, 6)) +
         Td(WithErr(r.ppl, r.ppl_stderr, 6)) + Td(FormatNumber(r.delta_ppl, 4)) +
         Td(WithErr(r.kld_mean, r.kld_stderr, 4)) + Td(FormatNumber(r.kld_median, 4)) +
         Td(FormatNumber(r.kld_p99, 4)) + Td(FormatNumber(r.kld_max, 4)) + Td(top1) +
         Td(FormatNumber(r.rms_delta_p, 4)) + Td(FormatNumber(r.eval_s, 4)) +
         Td(FormatNumber(r.tokens_per_s, 5)) + Td(FormatNumber(r.quantize_s, 4)) +
         Td(front[i] ? "yes" : "", false) + "</tr>\n";
  }
  return h + "</table></div>\n";
}

// a / b, or NaN when either is unknown.
double Ratio(double a, double b) { return std::isfinite(a) && std::isfinite(b) && b > 0 ? a / b : kNotMeasured; }

std::string Times(double ratio) { return std::isfinite(ratio) ? FormatNumber(ratio, 3) + "×" : "-"; }

std::string SpeedSection(const std::vector<MethodResult>& results) {
  double fp32_decode = kNotMeasured;
  for (const MethodResult& r : results) {
    if (r.method == "fp32") fp32_decode = r.decode_tokens_per_s;
  }
  std::string h =
      "<table id=\"speed-table\"><tr><th>Method</th><th>Prefill tok/s</th><th>fp32 prefill tok/s (same windows)</th>"
      "<th>× fp32</th><th>Decode tok/s</th><th>× fp32</th><th>Tokens decoded</th></tr>\n";
  for (const MethodResult& r : results) {
    h += "<tr>" + Td(MethodLabel(r), false) + Td(FormatNumber(r.prefill_tokens_per_s, 5)) +
         Td(FormatNumber(r.fp32_prefill_tokens_per_s, 5)) +
         Td(Times(Ratio(r.prefill_tokens_per_s, r.fp32_prefill_tokens_per_s))) +
         Td(FormatNumber(r.decode_tokens_per_s, 5)) + Td(Times(Ratio(r.decode_tokens_per_s, fp32_decode))) +
         Td(std::to_string(r.decode_tokens)) + "</tr>\n";
  }
  return h + "</table>\n";
}

std::string KeyValueTable(const std::vector<std::pair<std::string, std::string>>& rows,
                          const std::string& id) {
  std::string h = "<table id=\"" + id + "\">\n";
  for (const auto& [k, v] : rows) h += "<tr><th>" + HtmlEscape(k) + "</th>" + Td(v, false) + "</tr>\n";
  return h + "</table>\n";
}

std::string PerTensorSection(const std::vector<MethodResult>& results) {
  std::string h;
  for (const MethodResult& r : results) {
    if (r.per_tensor.empty()) continue;
    h += "<details><summary>" + HtmlEscape(MethodLabel(r)) + " (" +
         std::to_string(r.per_tensor.size()) +
         " tensors)</summary>\n<table><tr><th>Tensor</th><th>MSE</th><th>SQNR dB</th>"
         "<th>max |err|</th></tr>\n";
    for (const TensorError& t : r.per_tensor) {
      h += "<tr>" + Td(t.tensor, false) + Td(FormatNumber(t.mse, 4)) +
           Td(FormatNumber(t.sqnr_db, 4)) + Td(FormatNumber(t.max_abs_err, 4)) + "</tr>\n";
    }
    h += "</table></details>\n";
  }
  return h.empty() ? "<p>No per-tensor errors were measured.</p>\n" : h;
}

std::string SamplesSection(const std::vector<MethodResult>& results) {
  std::string h;
  for (const MethodResult& r : results) {
    h += "<h3>" + HtmlEscape(MethodLabel(r)) + "</h3>\n";
    if (r.samples.empty()) h += "<p>(no samples)</p>\n";
    for (const Sample& s : r.samples) {
      h += "<p>Prompt: <code>" + HtmlEscape(s.prompt) + "</code></p>\n<pre>" +
           HtmlEscape(s.text) + "</pre>\n";
    }
  }
  return h;
}

Result<std::string> ReadBinary(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Error(path + ": cannot open figure");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return Status::Error(path + ": read failed");
  return bytes;
}

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string Base64Encode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = uint8_t(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= uint8_t(bytes[i + 1]) << 8;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

Result<std::string> RenderHtmlReport(const RunInfo& run, const std::vector<MethodResult>& results,
                                     const std::vector<ReportFigure>& figures) {
  const std::string model = HtmlEscape(run.model_name);
  std::string h =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
      "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n"
      "<meta name=\"generator\" content=\"gpt2q " + HtmlEscape(run.version) + "\">\n"
      "<title>gpt2q report: " + model + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n";
  h += "<h1>gpt2q compare: " + model + "</h1>\n<p>" + std::to_string(results.size()) +
       " methods on <code>" + HtmlEscape(run.text_path) + "</code> (" +
       std::to_string(run.text_tokens) + " tokens), ctx " + std::to_string(run.ctx) + ", stride " +
       std::to_string(run.stride) + ". Generated " + HtmlEscape(run.date) + " by gpt2q " +
       HtmlEscape(run.version) + ".</p>\n";

  h += "<h2 id=\"table\">Results</h2>\n" + ResultsTable(results);
  h += "<p>Weights: bytes of all stored weights in their formats (MB = 10<sup>6</sup> bytes). "
       "KLD: KL(p<sub>fp32</sub> ‖ p<sub>quant</sub>) per scored token, nats. Pareto: no other "
       "method has both fewer bytes and a lower perplexity.</p>\n";
  std::string notes;
  for (const MethodResult& r : results) {
    for (const std::string& n : r.notes) notes += "<li>" + HtmlEscape(MethodLabel(r) + ": " + n) + "</li>\n";
  }
  if (!notes.empty()) h += "<ul class=\"note\">\n" + notes + "</ul>\n";

  h += "<h2 id=\"speed\">Speed</h2>\n" + SpeedSection(results);
  h += "<p>Measured in this run, on this machine. Prefill: every evaluation window through the forward pass "
       "with logits at every position (the perplexity workload); fp32's prefill is timed in the same windows, "
       "alternating with the method's window by window, so a busy moment slows both. Decode: batch-1 decode "
       "while generating the samples (tokens after the first of each), against the fp32 row's samples.</p>\n";

  h += "<h2 id=\"figures\">Figures</h2>\n";
  for (const ReportFigure& f : figures) {
    GPT2Q_ASSIGN_OR_RETURN(std::string png, ReadBinary(f.png_path));
    h += "<figure id=\"fig-" + HtmlEscape(f.id) + "\">\n<img alt=\"" + HtmlEscape(f.title) +
         "\" src=\"data:image/png;base64," + Base64Encode(png) + "\">\n<figcaption>" +
         HtmlEscape(f.title) + (f.caption.empty() ? "" : ". " + HtmlEscape(f.caption)) +
         (f.svg_path.empty() ? "" : " (vector version: <code>" + HtmlEscape(f.svg_path) + "</code>)") +
         "</figcaption>\n</figure>\n";
  }
  if (figures.empty()) h += "<p>No figures.</p>\n";

  h += "<h2 id=\"per-tensor\">Per-tensor errors</h2>\n" + PerTensorSection(results);
  h += "<h2 id=\"samples\">Generated samples</h2>\n" + SamplesSection(results);

  const ModelConfigInfo& c = run.config;
  char eps[64];
  std::snprintf(eps, sizeof(eps), "%g", c.layer_norm_epsilon);
  h += "<h2 id=\"model\">Model</h2>\n" +
       KeyValueTable({{"name", run.model_name},
                      {"path", run.model_path},
                      {"n_embd", std::to_string(c.n_embd)},
                      {"n_layer", std::to_string(c.n_layer)},
                      {"n_head", std::to_string(c.n_head)},
                      {"n_positions", std::to_string(c.n_positions)},
                      {"n_vocab", std::to_string(c.n_vocab)},
                      {"n_inner", std::to_string(c.n_inner)},
                      {"layer_norm_epsilon", eps},
                      {"activation_function", c.activation_function},
                      {"parameters", std::to_string(c.n_params)}},
                     "config");

  std::vector<std::pair<std::string, std::string>> settings = {
      {"text", run.text_path},
      {"text chars", std::to_string(run.text_chars)},
      {"text tokens", std::to_string(run.text_tokens)},
      {"ctx", std::to_string(run.ctx)},
      {"stride", std::to_string(run.stride)},
      {"seed", std::to_string(run.seed)},
      {"threads", std::to_string(run.threads)},
      {"gpt2q version", run.version},
      {"date", run.date}};
  settings.insert(settings.end(), run.settings.begin(), run.settings.end());
  h += "<h2 id=\"settings\">Settings</h2>\n" + KeyValueTable(settings, "settings");
  h += "<h2 id=\"reproduce\">Reproduce</h2>\n<pre id=\"command\">" + HtmlEscape(run.command_line) +
       "</pre>\n";
  h += "<h2 id=\"text\">Text used</h2>\n";
  if (run.text.empty()) {
    h += "<p>The text was not embedded; see <code>" + HtmlEscape(run.text_path) + "</code>.</p>\n";
  } else {
    h += "<details><summary>" + HtmlEscape(run.text_path) + " (" +
         std::to_string(run.text_chars) + " characters)</summary>\n<pre id=\"eval-text\">" +
         HtmlEscape(run.text) + "</pre></details>\n";
  }
  h += std::string("<script>") + kImageCheck + "</script>\n</body>\n</html>\n";
  return h;
}

Status WriteHtmlReport(const std::string& path, const RunInfo& run,
                       const std::vector<MethodResult>& results,
                       const std::vector<ReportFigure>& figures) {
  GPT2Q_ASSIGN_OR_RETURN(std::string html, RenderHtmlReport(run, results, figures));
  return WriteTextFile(path, html);
}

}  // namespace gpt2q
