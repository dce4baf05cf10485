// The gpt2q subcommands: each Add*Command registers its options on `app` and
// returns the action main runs when the user picks it.
#pragma once

#include <CLI/CLI.hpp>

#include "common.h"

namespace gpt2q {

Command AddInfoCommand(CLI::App& app);
Command AddTokenizeCommand(CLI::App& app);
Command AddGenerateCommand(CLI::App& app);
Command AddPerplexityCommand(CLI::App& app);
Command AddBenchCommand(CLI::App& app);
Command AddCompareCommand(CLI::App& app);
Command AddHistCommand(CLI::App& app);
Command AddQuantizeCommand(CLI::App& app);

}  // namespace gpt2q
