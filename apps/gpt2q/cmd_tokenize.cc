// gpt2q tokenize: text to GPT-2 token ids, or ids back to text with --decode.
#include <charconv>

#include <fmt/core.h>
#include <fmt/format.h>

#include "commands.h"
#include "core/timer.h"
#include "text/text_file.h"

namespace gpt2q {
namespace {

struct TokenizeArgs {
  CommonOptions common;
  std::string model;
  std::string text;
  std::string file;
  bool decode = false;
  bool special = false;
};

// Parses ids separated by spaces, commas, brackets or newlines.
Result<std::vector<int32_t>> ParseIds(const std::string& text) {
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i < text.size()) {
    char ch = text[i];
    if (ch == ' ' || ch == ',' || ch == '\n' || ch == '\t' || ch == '\r' || ch == '[' || ch == ']') {
      ++i;
      continue;
    }
    int64_t value = 0;
    auto [end, ec] = std::from_chars(text.data() + i, text.data() + text.size(), value);
    if (ec != std::errc() || value < 0 || value > INT32_MAX) {
      return Status::Error(fmt::format("--decode: expected token ids (non-negative integers) at "
                                       "character {} of the input",
                                       i));
    }
    ids.push_back(static_cast<int32_t>(value));
    i = static_cast<size_t>(end - text.data());
  }
  return ids;
}

Status RunTokenize(const TokenizeArgs& args) {
  std::string input = args.text;
  if (!args.file.empty()) {
    GPT2Q_ASSIGN_OR_RETURN(input, args.decode ? ReadBinaryFile(args.file) : ReadTextFile(args.file));
  }
  GPT2Q_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, LoadTokenizer(args.model));
  if (args.decode) {
    GPT2Q_ASSIGN_OR_RETURN(std::vector<int32_t> ids, ParseIds(input));
    GPT2Q_ASSIGN_OR_RETURN(std::string text, tokenizer->Decode(ids));
    if (args.common.json) {
      PrintJson({{"ids", ids}, {"count", ids.size()}, {"text", text}});
    } else {
      fmt::print("{}\n", text);
    }
    return OkStatus();
  }
  Stopwatch watch;
  std::vector<int32_t> ids =
      args.special ? tokenizer->EncodeWithSpecialTokens(input) : tokenizer->Encode(input);
  const double seconds = watch.Seconds();
  if (args.common.json) {
    PrintJson({{"ids", ids}, {"count", ids.size()}, {"bytes", input.size()}, {"encode_s", seconds}});
  } else {
    fmt::print("{}\n", fmt::join(ids, " "));
    fmt::print("{} tokens, {} bytes\n", ids.size(), input.size());
  }
  return OkStatus();
}

}  // namespace

Command AddTokenizeCommand(CLI::App& app) {
  auto args = std::make_shared<TokenizeArgs>();
  CLI::App* cmd = app.add_subcommand("tokenize", "encode text to GPT-2 token ids (or decode ids)");
  cmd->add_option("--model", args->model,
                  "model folder whose vocab.json/merges.txt to use, or a .gguf file (its tokenizer.ggml.* arrays; "
                  "default: the shipped model's)");
  auto* text = cmd->add_option("TEXT", args->text, "the text (with --decode: ids separated by spaces or commas)");
  auto* file = cmd->add_option("--file", args->file, "read the text (or ids) from this file");
  text->excludes(file);
  file->excludes(text);
  cmd->add_flag("--decode", args->decode, "turn token ids back into text");
  cmd->add_flag("--special", args->special, "encode a literal <|endoftext|> as the single token 50256");
  AddCommonOptions(cmd, &args->common);
  return {cmd, [args] { return RunTokenize(*args); }};
}

}  // namespace gpt2q
