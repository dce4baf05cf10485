// Writes everything `gpt2q compare` leaves in --out DIR.
#include "report/report.h"

#include <filesystem>
#include <system_error>

#include "report/results_io.h"

namespace gpt2q {
namespace {

Status MakeDirs(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::Error(dir.string() + ": cannot create folder: " + ec.message());
  return OkStatus();
}

}  // namespace

Result<ReportFiles> WriteReport(const std::string& out_dir, const RunInfo& run,
                                const std::vector<MethodResult>& results,
                                const std::vector<HistogramData>& histograms,
                                const ReportOptions& options) {
  namespace fs = std::filesystem;
  const fs::path out(out_dir);
  const fs::path fig_dir = out / options.figures_subdir;
  GPT2Q_RETURN_IF_ERROR(MakeDirs(out));
  GPT2Q_RETURN_IF_ERROR(MakeDirs(fig_dir));

  ReportFiles files;
  const auto add_figure = [&](const std::string& id, const std::string& title,
                              const std::string& caption) {
    const fs::path stem = fig_dir / id;
    files.figures.push_back({id, title, caption, stem.string() + ".png",
                             (fs::path(options.figures_subdir) / (id + ".svg")).string()});
    return stem.string();
  };

  if (!histograms.empty()) {
    const std::string stem =
        add_figure("weights", "Weight histograms: original vs quantized-then-dequantized",
                   "Counts over the plotted range; values outside it are not counted");
    GPT2Q_RETURN_IF_ERROR(PlotHistogramGrid(histograms, stem, options.histogram));
  }
  for (BarMetric metric : {BarMetric::kPpl, BarMetric::kKld, BarMetric::kBytes,
                           BarMetric::kTokensPerSecond}) {
    if (!HasMetric(results, metric)) continue;
    const std::string stem = add_figure("bars-" + BarMetricName(metric),
                                        BarMetricTitle(metric), "One bar per method");
    GPT2Q_RETURN_IF_ERROR(PlotBarChart(results, metric, stem));
  }
  if (HasPerTensorSqnr(results)) {
    const std::string stem = add_figure("sqnr", "SQNR per tensor",
                                        "Exact tensors (infinite SQNR) are not drawn");
    GPT2Q_RETURN_IF_ERROR(PlotSqnrPerTensor(results, stem));
  }
  if (!ParetoFront(results).empty()) {
    const std::string stem = add_figure("pareto", "Perplexity vs weight memory",
                                        "The Pareto front is drawn in red");
    GPT2Q_RETURN_IF_ERROR(PlotPareto(results, stem));
  }

  files.results_json = (out / "results.json").string();
  files.results_csv = (out / "results.csv").string();
  files.results_md = (out / "results.md").string();
  files.samples_md = (out / "samples.md").string();
  files.report_html = (out / "report.html").string();
  GPT2Q_RETURN_IF_ERROR(WriteResultsJson(files.results_json, run, results));
  GPT2Q_RETURN_IF_ERROR(WriteResultsCsv(files.results_csv, results));
  GPT2Q_RETURN_IF_ERROR(WriteResultsMarkdown(files.results_md, run, results));
  GPT2Q_RETURN_IF_ERROR(WriteSamplesMarkdown(files.samples_md, run, results));
  GPT2Q_RETURN_IF_ERROR(WriteHtmlReport(files.report_html, run, results, files.figures));
  return files;
}

}  // namespace gpt2q
