// The command table: each command declares its options on its own
// subcommand and returns the runner that does the work.
#pragma once

#include <CLI/CLI.hpp>

#include <vector>

#include "cli/common.h"

namespace v2r {

struct CommandSpec {
  const char* name;
  const char* summary;
  CommandRunner (*setup)(CLI::App* sub, const CommandEnv& env);
  bool events = false;  // runs steps or copies: --progress-fd
  bool log = false;     // works on a domain's state: a log, --log-file
};

CommandRunner SetupCopyCommand(CLI::App* sub, const CommandEnv& env);
CommandRunner SetupVerifyCommand(CLI::App* sub, const CommandEnv& env);
CommandRunner SetupPlanCommand(CLI::App* sub, const CommandEnv& env);
CommandRunner SetupMigrateCommand(CLI::App* sub, const CommandEnv& env);
CommandRunner SetupRollbackCommand(CLI::App* sub, const CommandEnv& env);
CommandRunner SetupCommitCommand(CLI::App* sub, const CommandEnv& env);
CommandRunner SetupStatusCommand(CLI::App* sub, const CommandEnv& env);
CommandRunner SetupFleetCommand(CLI::App* sub, const CommandEnv& env);

const std::vector<CommandSpec>& CommandTable();

// Parses argv, runs the chosen command, prints errors and the JSON summary,
// and returns the exit code. The only caller is main(), which owns `cancel`
// (set by SIGINT/SIGTERM) and `abandonment` (marked when a run leaves
// writes in flight: main then ends with _Exit).
int RunCli(int argc, char** argv, const std::atomic<bool>* cancel, Abandonment* abandonment);

}  // namespace v2r
