#include <fmt/format.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "base/exit_codes.h"
#include "cli/commands.h"
#include "cli/printer_observer.h"

namespace v2r {

const std::vector<CommandSpec>& CommandTable() {
  static const std::vector<CommandSpec> table = {
      {"copy", "copy a block device or raw file into a new RBD image, thin and verified", SetupCopyCommand},
      {"verify", "compare a block device or raw file with an RBD image", SetupVerifyCommand},
      {"plan", "dry run: show what migrate would do to a domain, change nothing", SetupPlanCommand},
      {"migrate", "move a domain's disks onto RBD: stop, copy, verify, switch, start", SetupMigrateCommand},
      {"rollback", "put a migrated domain back on its original disks", SetupRollbackCommand},
      {"commit", "end the rollback window: remove the rollback snapshots", SetupCommitCommand},
      {"status", "what was migrated, what is unfinished, what drifted", SetupStatusCommand},
  };
  return table;
}

void PrinterObserver::Warn(const std::string& message) {
  std::fprintf(stderr, "virt2rbd: warning: %s\n", message.c_str());
}

namespace {

// The message on stderr; with --format json also one document on stdout:
// the command's partial summary (if any) with an "error" member.
void PrintError(const Status& st, const OutputOptions& out, int code, nlohmann::json summary) {
  std::fprintf(stderr, "virt2rbd: error: %s\n", st.message().c_str());
  if (!st.hint().empty()) std::fprintf(stderr, "virt2rbd: hint: %s\n", st.hint().c_str());
  if (out.json()) {
    if (!summary.is_object()) summary = nlohmann::json::object();
    summary["error"] = {{"message", st.message()}, {"hint", st.hint()}, {"exit_code", code},
                        {"meaning", ExitCodeName(code)}};
    std::cout << summary.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
  }
}

}  // namespace

int RunCli(int argc, char** argv, const std::atomic<bool>* cancel) {
  CLI::App app{"virt2rbd: move libvirt VM disks from block storage onto Ceph RBD, safely and fast"};
  app.set_version_flag("--version", std::string("virt2rbd ") + V2R_VERSION);
  app.require_subcommand(1);
  OutputOptions output;
  CommandEnv env{&output, cancel};
  CommandRunner runner;
  for (const CommandSpec& spec : CommandTable()) {
    CLI::App* sub = app.add_subcommand(spec.name, spec.summary);
    AddOutputOptions(sub, &output);
    CommandRunner r = spec.setup(sub, env);
    sub->callback([&runner, r] { runner = r; });
  }
  // CLI11 reports an unknown command as "A subcommand is required".
  if (argc > 1 && argv[1][0] != '-') {
    std::string names;
    bool known = false;
    for (const CommandSpec& spec : CommandTable()) {
      known = known || std::string(spec.name) == argv[1];
      names += (names.empty() ? "" : ", ") + std::string(spec.name);
    }
    if (!known) {
      std::fprintf(stderr, "virt2rbd: usage error: unknown command '%s' (commands: %s)\n", argv[1], names.c_str());
      std::fprintf(stderr, "virt2rbd: hint: run 'virt2rbd --help'\n");
      return kExitUsage;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    int code = kExitUsage;
    std::fprintf(stderr, "virt2rbd: usage error: %s\n", e.what());
    std::fprintf(stderr, "virt2rbd: hint: run 'virt2rbd --help' or 'virt2rbd COMMAND --help'\n");
    if (output.json())
      std::cout << nlohmann::json{{"error", {{"message", e.what()}, {"exit_code", code},
                                             {"meaning", ExitCodeName(code)}}}}.dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
                << std::endl;
    return code;
  }
  nlohmann::json summary;
  Status st = runner ? runner(&summary) : Status::Internal("no command ran");
  int code = ExitCodeFor(st);
  if (!st.ok()) {
    PrintError(st, output, code, std::move(summary));
    return code;
  }
  if (output.json() && !summary.is_null()) std::cout << summary.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
  return code;
}

}  // namespace v2r
