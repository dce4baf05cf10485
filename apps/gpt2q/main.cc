// gpt2q: the command-line entry point. Parses argv, runs one subcommand,
// prints errors as "gpt2q: error: ..." (exit 1; usage errors exit 2).
#include <cstdio>
#include <exception>
#include <new>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "commands.h"
#include "kernels/blas.h"

int main(int argc, char** argv) {
  gpt2q::UseSingleThreadedBlas();
  CLI::App app{"gpt2q: load, quantize and measure GPT-2 models on a CPU"};
  app.name("gpt2q");
  app.require_subcommand(1);
  app.get_formatter()->column_width(34);
  std::vector<gpt2q::Command> commands = {
      gpt2q::AddInfoCommand(app),       gpt2q::AddTokenizeCommand(app),
      gpt2q::AddGenerateCommand(app),   gpt2q::AddPerplexityCommand(app),
      gpt2q::AddBenchCommand(app),      gpt2q::AddCompareCommand(app),
      gpt2q::AddHistCommand(app),       gpt2q::AddQuantizeCommand(app),
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    fmt::print(stderr, "gpt2q: error: {}\nRun with --help for more information.\n", e.what());
    return 2;
  }
  try {
    for (const gpt2q::Command& command : commands) {
      if (!command.app->parsed()) continue;
      gpt2q::Status status = command.run();
      if (!status.ok()) {
        std::fflush(stdout);
        fmt::print(stderr, "gpt2q: error: {}\n", status.message());
        return 1;
      }
      return 0;
    }
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "gpt2q: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "gpt2q: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
