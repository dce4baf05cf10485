// Writes everything `gpt2q compare` leaves in --out DIR: results.json/.csv/.md,
// samples.md, the figures (PNG + SVG) and the self-contained report.html.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "report/charts.h"
#include "report/html_report.h"
#include "report/results.h"

namespace gpt2q {

struct ReportOptions {
  HistogramPlotOptions histogram;
  std::string figures_subdir = "figures";  // inside the output folder
};

// The files written, as paths.
struct ReportFiles {
  std::string results_json, results_csv, results_md, samples_md, report_html;
  std::vector<ReportFigure> figures;
};

// Renders the figures that have data (weights.png/svg when `histograms` is not
// empty; bars-ppl/kld/bytes/speed for measured metrics; sqnr when per-tensor
// data exists; pareto when ppl exists) into out_dir/figures_subdir, then writes
// the tables, samples and report.html into `out_dir` (created if missing).
// Results are written in the order given (see SortResults). Fails naming the
// path that could not be written.
Result<ReportFiles> WriteReport(const std::string& out_dir, const RunInfo& run,
                                const std::vector<MethodResult>& results,
                                const std::vector<HistogramData>& histograms,
                                const ReportOptions& options = {});

}  // namespace gpt2q
