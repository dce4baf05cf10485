// Tests of results.json (against docs/results.schema.json), CSV, markdown,
// sorting and the terminal table.
#include "report/results_io.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "fake_results.h"

namespace gpt2q {
namespace {

using nlohmann::json;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string TempDir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("gpt2q_report_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir.string();
}

bool TypeMatches(const json& v, const std::string& type) {
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "integer") return v.is_number_integer();
  if (type == "number") return v.is_number();
  if (type == "boolean") return v.is_boolean();
  if (type == "null") return v.is_null();
  return false;
}

// A small JSON Schema subset: type, required, properties (unknown keys are an
// error unless additionalProperties is given), additionalProperties, items,
// enum, const. Appends one message per violation.
void Validate(const json& v, const json& schema, const std::string& path,
              std::vector<std::string>& errors) {
  if (schema.contains("type")) {
    std::vector<std::string> types;
    if (schema["type"].is_string()) types.push_back(schema["type"]);
    else for (const auto& t : schema["type"]) types.push_back(t);
    bool ok = false;
    for (const auto& t : types) ok = ok || TypeMatches(v, t);
    if (!ok) errors.push_back(path + ": type " + std::string(v.type_name()) + " not in " + schema["type"].dump());
  }
  if (schema.contains("const") && v != schema["const"]) errors.push_back(path + ": != const");
  if (schema.contains("enum")) {
    bool found = false;
    for (const auto& e : schema["enum"]) found = found || e == v;
    if (!found) errors.push_back(path + ": " + v.dump() + " not in enum");
  }
  if (v.is_object()) {
    if (schema.contains("required")) {
      for (const auto& key : schema["required"]) {
        if (!v.contains(key.get<std::string>())) errors.push_back(path + ": missing " + key.get<std::string>());
      }
    }
    for (const auto& [key, value] : v.items()) {
      if (schema.contains("properties") && schema["properties"].contains(key)) {
        Validate(value, schema["properties"][key], path + "." + key, errors);
      } else if (schema.contains("additionalProperties")) {
        Validate(value, schema["additionalProperties"], path + "." + key, errors);
      } else if (schema.contains("properties")) {
        errors.push_back(path + ": key '" + key + "' not in the schema");
      }
    }
  }
  if (v.is_array() && schema.contains("items")) {
    for (size_t i = 0; i < v.size(); ++i) {
      Validate(v[i], schema["items"], path + "[" + std::to_string(i) + "]", errors);
    }
  }
}

json LoadSchema() {
  const std::string path = std::string(GPT2Q_DATA_DIR) + "/../docs/results.schema.json";
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  return json::parse(in);
}

TEST(ResultsJson, ParsesAndFollowsTheSchema) {
  const std::string dir = TempDir("json");
  const auto results = testing::FakeResults();
  ASSERT_TRUE(WriteResultsJson(dir + "/results.json", testing::FakeRun(), results).ok());
  const json doc = json::parse(ReadAll(dir + "/results.json"));
  const json schema = LoadSchema();
  std::vector<std::string> errors;
  Validate(doc, schema, "$", errors);
  for (const auto& e : errors) ADD_FAILURE() << e;
  ASSERT_EQ(doc["results"].size(), results.size());
  EXPECT_EQ(doc["results"][2]["method"], "q4_0:x=1,y=2");
  EXPECT_TRUE(doc["results"][0]["per_tensor"][0]["sqnr_db"].is_null());  // inf → null
  EXPECT_DOUBLE_EQ(doc["results"][1]["compression"]["ratio"].get<double>(), 1000000.0 / 260000);
  EXPECT_EQ(doc["run"]["settings"]["hist_bins"], "180");
}

TEST(ResultsJson, CheckerCatchesViolations) {
  // The checker itself must fail on a broken document.
  json doc = ResultsToJson(testing::FakeRun(), testing::FakeResults());
  doc["results"][0].erase("ppl");
  doc["results"][1]["weights_bytes"] = "many";
  doc["results"][1]["surprise"] = 1;
  std::vector<std::string> errors;
  Validate(doc, LoadSchema(), "$", errors);
  EXPECT_EQ(errors.size(), 3u);
}

TEST(ResultsJson, NotMeasuredIsNull) {
  MethodResult r;
  r.method = "fp32";
  r.scope = "linear";
  r.mode = "packed";
  const json doc = ResultsToJson(testing::FakeRun(), {r});
  EXPECT_TRUE(doc["results"][0]["ppl"].is_null());
  EXPECT_TRUE(doc["results"][0]["hf_footprint_bytes"].is_null());
  std::vector<std::string> errors;
  Validate(doc, LoadSchema(), "$", errors);
  EXPECT_TRUE(errors.empty()) << errors.front();
}

TEST(ResultsCsv, OneRowPerResultWithQuoting) {
  const std::string dir = TempDir("csv");
  const auto results = testing::FakeResults();
  ASSERT_TRUE(WriteResultsCsv(dir + "/results.csv", results).ok());
  std::istringstream in(ReadAll(dir + "/results.csv"));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), results.size() + 1);
  const auto columns = [](const std::string& line) {  // commas outside quotes + 1
    size_t n = 1;
    bool quoted = false;
    for (char c : line) {
      if (c == '"') quoted = !quoted;
      else if (c == ',' && !quoted) ++n;
    }
    return n;
  };
  for (const auto& line : lines) EXPECT_EQ(columns(line), columns(lines[0])) << line;
  EXPECT_EQ(lines[3].rfind("\"q4_0:x=1,y=2\",linear,packed,", 0), 0u) << lines[3];
}

TEST(ResultsMarkdown, TableShape) {
  const auto results = testing::FakeResults();
  const std::string table = ResultsMarkdownTable(results);
  std::istringstream in(table);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), results.size() + 2);  // header, separator, rows
  const auto pipes = [](const std::string& s) {
    size_t n = 0;
    for (size_t i = 0; i < s.size(); ++i) n += s[i] == '|' && (i == 0 || s[i - 1] != '\\');
    return n;
  };
  for (const auto& line : lines) EXPECT_EQ(pipes(line), pipes(lines[0])) << line;
  EXPECT_NE(lines[1].find("---"), std::string::npos);

  const std::string dir = TempDir("md");
  ASSERT_TRUE(WriteResultsMarkdown(dir + "/results.md", testing::FakeRun(), results).ok());
  EXPECT_NE(ReadAll(dir + "/results.md").find(table), std::string::npos);
  ASSERT_TRUE(WriteSamplesMarkdown(dir + "/samples.md", testing::FakeRun(), results).ok());
  const std::string samples = ReadAll(dir + "/samples.md");
  EXPECT_NE(samples.find("````text\nROMEO: a <b>sample</b> with ``` fences"), std::string::npos);
}

TEST(ResultsSort, ByEachKey) {
  auto results = testing::FakeResults();
  results[1].ppl = kNotMeasured;
  SortResults(results, SortKey::kPpl);
  EXPECT_EQ(results.front().method, "fp32");
  EXPECT_EQ(results.back().method, "absmax");  // unmeasured last
  SortResults(results, SortKey::kBytes);
  EXPECT_EQ(results.front().method, "q4_0:x=1,y=2");
  SortResults(results, SortKey::kSpeed);
  EXPECT_EQ(results.front().method, "fp32");
  SortResults(results, SortKey::kKld);
  EXPECT_EQ(results.back().method, "zeropoint");
  EXPECT_EQ(ParseSortKey("speed").value(), SortKey::kSpeed);
  auto bad = ParseSortKey("size");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("ppl, kld, bytes, speed"), std::string::npos);
}

TEST(TerminalTable, ColumnsAlign) {
  const std::string table = FormatTerminalTable(testing::FakeResults());
  std::istringstream in(table);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 2 + testing::FakeResults().size());
  // Every row ends at the same display column (the last column is right-aligned).
  const auto width = [](const std::string& s) {
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
  };
  for (const auto& line : lines) EXPECT_EQ(width(line), width(lines[1])) << line;
  EXPECT_EQ(lines[0].rfind("Method", 0), 0u);
}

}  // namespace
}  // namespace gpt2q
