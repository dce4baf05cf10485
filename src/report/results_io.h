// Result tables: results.json / .csv / .md, samples.md, sorting and the
// aligned terminal table.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "report/results.h"

namespace gpt2q {

// Version of the layout described by docs/results.schema.json.
inline constexpr int kResultsSchemaVersion = 1;

// How `SortResults` orders methods: ppl, kld (mean) and bytes ascending, speed
// (tokens/s) descending. Unmeasured values go last.
enum class SortKey { kPpl, kKld, kBytes, kSpeed };

// Parses "ppl", "kld", "bytes" or "speed"; the error lists the valid names.
Result<SortKey> ParseSortKey(const std::string& name);

// Stable-sorts `results` by `key`.
void SortResults(std::vector<MethodResult>& results, SortKey key);

// Returns the run and every result as the JSON document of results.schema.json.
// NaN (not measured) and ±inf (e.g. the SQNR of an exact tensor) become null.
nlohmann::ordered_json ResultsToJson(const RunInfo& run, const std::vector<MethodResult>& results);

// Formats `value` with `digits` significant digits ("-" for NaN, "inf").
std::string FormatNumber(double value, int digits = 4);

// Formats a byte count in MB (10^6 bytes) with 2 decimals, e.g. "497.76 MB".
std::string FormatMegabytes(int64_t bytes);

// The columns of the summary table as text cells: one header row, then one row
// per result. Shared by the markdown and terminal tables.
std::vector<std::vector<std::string>> SummaryTableCells(const std::vector<MethodResult>& results);

// Returns the summary table as GitHub markdown (pipes in cells escaped).
std::string ResultsMarkdownTable(const std::vector<MethodResult>& results);

// Returns the summary table with space-aligned columns (UTF-8 aware), one line
// per row, for printing on a terminal.
std::string FormatTerminalTable(const std::vector<MethodResult>& results);

// Writers. Each fails with a message naming `path` if it cannot be written.
Status WriteResultsJson(const std::string& path, const RunInfo& run,
                        const std::vector<MethodResult>& results);
// One header row and one row per result; RFC 4180 quoting.
Status WriteResultsCsv(const std::string& path, const std::vector<MethodResult>& results);
// A title, the run line and the summary table.
Status WriteResultsMarkdown(const std::string& path, const RunInfo& run,
                            const std::vector<MethodResult>& results);
// Every method's generated samples, in fenced blocks.
Status WriteSamplesMarkdown(const std::string& path, const RunInfo& run,
                            const std::vector<MethodResult>& results);

// Writes `contents` to `path` (binary, truncating).
Status WriteTextFile(const std::string& path, const std::string& contents);

}  // namespace gpt2q
