// The self-contained report.html: tables, figures embedded as base64 PNG,
// samples, model config, the text and every setting. No network access.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "report/results.h"

namespace gpt2q {

// One figure of the report, already rendered to files.
struct ReportFigure {
  std::string id;        // e.g. "histograms", "bars-ppl"
  std::string title;
  std::string caption;
  std::string png_path;  // embedded as a data: URI
  std::string svg_path;  // named in the caption (the file beside report.html)
};

// Returns `text` with &, <, >, " and ' replaced by entities.
std::string HtmlEscape(std::string_view text);

// Returns standard base64 (RFC 4648, with padding) of `bytes`.
std::string Base64Encode(std::string_view bytes);

// Returns the whole HTML document. Fails naming the file if a figure's PNG
// cannot be read.
Result<std::string> RenderHtmlReport(const RunInfo& run, const std::vector<MethodResult>& results,
                                     const std::vector<ReportFigure>& figures);

// Writes RenderHtmlReport(...) to `path`.
Status WriteHtmlReport(const std::string& path, const RunInfo& run,
                       const std::vector<MethodResult>& results,
                       const std::vector<ReportFigure>& figures);

}  // namespace gpt2q
