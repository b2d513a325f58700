#include <fmt/format.h>

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/exit_codes.h"
#include "base/units.h"
#include "cli/commands.h"
#include "cli/event_writer.h"
#include "cli/printer_observer.h"
#include "cli/run_log.h"
#include "cli/step_printer.h"

namespace v2r {

const std::vector<CommandSpec>& CommandTable() {
  static const std::vector<CommandSpec> table = {
      {"copy", "copy a block device or raw file into a new RBD image, thin and verified", SetupCopyCommand, true},
      {"verify", "compare a block device or raw file with an RBD image", SetupVerifyCommand, true},
      {"plan", "dry run: show what migrate would do to a domain, change nothing", SetupPlanCommand},
      {"migrate", "move a domain's disks onto RBD: stop, copy, verify, switch, start", SetupMigrateCommand, true,
       true},
      {"rollback", "put a migrated domain back on its original disks", SetupRollbackCommand, true, true},
      {"commit", "end the rollback window: remove the rollback snapshots", SetupCommitCommand, true, true},
      {"status", "what was migrated, what is unfinished, what drifted", SetupStatusCommand},
      {"fleet", "many VMs on many hypervisors from one plan file: fleet plan FILE (docs/fleet.md)",
       SetupFleetCommand},
  };
  return table;
}

void PrinterObserver::Warn(const std::string& message) {
  std::fprintf(stderr, "virt2rbd: warning: %s\n", message.c_str());
}

void PrinterObserver::BandwidthApplied(uint64_t bytes_per_s) {
  if (out_.quiet) return;
  std::string rate = bytes_per_s ? FormatBytes(bytes_per_s) + "/s" : std::string("unlimited");
  std::fprintf(stderr, "virt2rbd: copy bandwidth now %s (control stream)\n", rate.c_str());
}

void PrinterObserver::PivotWaiting(const std::vector<std::string>& disks) {
  if (out_.quiet) return;
  std::fprintf(stderr, "virt2rbd: %s in sync: the pivot waits for {\"pivot\": \"go\"} on the control stream\n",
               fmt::format("{}", fmt::join(disks, ", ")).c_str());
}

namespace {

// Help without CLI11's type labels ("UINT:INT in [1 - 1024]"): each option
// that takes a value shows a placeholder, from this table, else its choices
// (CLI::IsMember), else N for a number and VALUE otherwise. Defaults are in
// the descriptions ("(default 16)"): tests/cli/t_help.sh checks that every
// option taking a value states one or is required, and that the help of
// every command matches tests/data/help/.
class HelpFormatter : public CLI::Formatter {
 public:
  std::string make_option_opts(const CLI::Option* opt) const override {
    if (!opt->get_option_text().empty()) return " " + opt->get_option_text();
    // Positionals are named in the usage line; flags take no value.
    if (opt->get_positional() || opt->get_expected_max() == 0 || opt->get_type_name().empty()) return "";
    std::string out = " " + Placeholder(opt);
    if (opt->get_required()) out += " (required)";
    return out;
  }

 private:
  static std::string Placeholder(const CLI::Option* opt) {
    static const std::map<std::string, std::string> kByName = {
        {"bandwidth", "MIB_S"},          {"chunk-size", "SIZE"},          {"client-user", "ID"},
        {"cluster", "NAME"},             {"conf", "FILE"},                {"connect", "URI"},
        {"connect-timeout", "SECONDS"},  {"disks", "TARGET,..."},         {"id", "ID"},
        {"image-name", "TEMPLATE"},      {"in-flight", "N"},              {"in-flight-bytes", "SIZE"},
        {"journal-interval", "SECONDS"}, {"keyring", "FILE"},             {"libvirt-timeout", "SECONDS"},
        {"mon-hosts", "HOST:PORT,...|none"}, {"name", "client.ID"},       {"parallel-disks", "N"},
        {"pool", "POOL"},                {"progress-interval", "SECONDS"}, {"readers", "N"},
        {"progress-fd", "FD"},           {"log-file", "FILE"},            {"control-fd", "FD"},
        {"shutdown-timeout", "SECONDS"}, {"stall-timeout", "SECONDS"},    {"stall-warn", "SECONDS"},
        {"state-dir", "DIR"},            {"threads", "N"},                {"zero-block", "SIZE"},
    };
    for (const std::string& n : opt->get_lnames())
      if (auto it = kByName.find(n); it != kByName.end()) return it->second;
    std::string type = opt->get_type_name();
    // A CLI::IsMember check: its choices ("TEXT:{full,none}" shows as full|none).
    if (size_t open = type.find(":{"); open != std::string::npos && type.back() == '}') {
      std::string choices = type.substr(open + 2, type.size() - open - 3);
      for (char& c : choices)
        if (c == ',') c = '|';
      return choices;
    }
    type = type.substr(0, type.find(':'));
    return type == "INT" || type == "UINT" || type == "FLOAT" ? "N" : "VALUE";
  }
};

// CLI11 checks required options before it reports arguments it does not
// know: `migrate --bogus x` would answer "--pool is required". The first
// unknown option (else the first surplus argument) is what the operator must
// fix first; the wording is CLI11's own for one such argument (scripts and
// tests match it).
std::string UsageMessage(const CLI::App& app, const CLI::ParseError& e) {
  std::vector<std::string> extra = app.remaining(true);
  for (const std::string& arg : extra)
    if (arg.size() > 1 && arg[0] == '-')
      return fmt::format("The following argument was not expected: {}", arg.substr(0, arg.find('=')));
  if (!extra.empty()) return fmt::format("The following argument was not expected: {}", extra.front());
  return e.what();
}

// The command's summary as --format json prints it: with an "error" member
// when it failed (the partial summary, if any, kept).
nlohmann::json SummaryWithError(nlohmann::json summary, const Status& st) {
  if (st.ok()) return summary;
  if (!summary.is_object()) summary = nlohmann::json::object();
  summary["error"] = EventWriter::ErrorJson(st);
  return summary;
}

// Who hears of a command's plan, steps, phases and warnings: the terminal
// (steps, then progress and warnings), the event stream, the log.
struct RunObservers {
  FanOut fan;
  std::unique_ptr<StepPrinter> steps;
  std::unique_ptr<PrinterObserver> printer;
  std::unique_ptr<EventWriter> events;
  std::unique_ptr<RunLog> log;
};

// The parsed command's DOMAIN argument, if it has one.
std::optional<std::string> DomainArg(const CLI::App* sub) {
  const CLI::Option* opt = sub->get_option_no_throw("DOMAIN");
  if (!opt || opt->count() == 0) return std::nullopt;
  return opt->as<std::string>();
}

Status SetUpObservers(const CLI::App* sub, const CommandSpec& spec, const OutputOptions& out, RunObservers* o) {
  std::optional<std::string> domain = DomainArg(sub);
  if (out.progress_fd >= 0) {
    auto ev = EventWriter::Open(out.progress_fd, sub->get_name(), domain);
    if (!ev.ok()) return ev.status();
    o->events = std::move(*ev);
  }
  if (spec.log) {
    // syslog only where a syslog daemon listens: openlog would not say.
    o->log = std::make_unique<RunLog>(sub->get_name(), domain.value_or("-"), ::access("/dev/log", W_OK) == 0);
    if (!out.log_file.empty()) V2R_RETURN_IF_ERROR(o->log->AddFile(out.log_file));
  }
  o->steps = std::make_unique<StepPrinter>(out);
  o->printer = std::make_unique<PrinterObserver>(out);
  // The step printer first: it ends an open step line before progress or a
  // warning is printed.
  for (Observer* each : std::initializer_list<Observer*>{o->steps.get(), o->printer.get(), o->events.get(),
                                                         o->log.get()})
    o->fan.Add(each);
  if (o->events) o->events->Started();
  return Status::Ok();
}

// The end of a run, told to the terminal (the error), the log and the event
// stream (the report: what --format json prints), then the JSON on stdout.
// Runs the command. --format json: stdout holds the one JSON document. A
// library that prints to stdout while the command runs (librados' "server
// name not found: X" for a monitor it cannot resolve) would break it: its
// output goes to stderr until the document is written (a command that
// streams JSON lines gets the real stdout as json_stream_fd).
Status RunCommand(const CommandRunner& runner, OutputOptions* output, nlohmann::json* summary) {
  int saved = -1;
  if (output->json()) {
    std::fflush(stdout);
    saved = ::dup(STDOUT_FILENO);
    if (saved >= 0) ::dup2(STDERR_FILENO, STDOUT_FILENO);
    output->json_stream_fd = saved;
  }
  Status st = runner(summary);
  output->json_stream_fd = -1;
  if (saved >= 0) {
    std::fflush(stdout);
    std::cout.flush();
    ::dup2(saved, STDOUT_FILENO);
    ::close(saved);
  }
  return st;
}

int Finish(const Status& st, const OutputOptions& out, const RunObservers& o, nlohmann::json summary) {
  int code = ExitCodeFor(st);
  if (!st.ok()) {
    std::fprintf(stderr, "virt2rbd: error: %s\n", st.message().c_str());
    if (!st.hint().empty()) std::fprintf(stderr, "virt2rbd: hint: %s\n", st.hint().c_str());
  }
  nlohmann::json doc = SummaryWithError(std::move(summary), st);
  if (o.log) {
    std::string message = doc.is_object() && doc.contains("message") && doc["message"].is_string()
                              ? doc["message"].get<std::string>()
                              : "";
    o.log->Finished(st, code, message);
  }
  if (o.events) o.events->Report(doc, code);
  if (out.json() && !doc.is_null())
    std::cout << doc.dump(out.json_lines ? -1 : 2, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
  return code;
}

}  // namespace

int RunCli(int argc, char** argv, const std::atomic<bool>* cancel, Abandonment* abandonment) {
  // Named: CLI11 would otherwise show argv[0] (the binary's path) in the help.
  CLI::App app{"virt2rbd: move libvirt VM disks from block storage onto Ceph RBD, safely and fast", "virt2rbd"};
  auto formatter = std::make_shared<HelpFormatter>();
  formatter->column_width(32);
  app.formatter(formatter);  // before the subcommands: they inherit it
  app.set_version_flag("--version", std::string("virt2rbd ") + V2R_VERSION);
  app.require_subcommand(1);
  OutputOptions output;
  RunObservers observers;
  CommandEnv env{&output, cancel, &observers.fan, abandonment};
  CommandRunner runner;
  const CommandSpec* chosen = nullptr;
  for (const CommandSpec& spec : CommandTable()) {
    CLI::App* sub = app.add_subcommand(spec.name, spec.summary);
    AddOutputOptions(sub, &output);
    if (spec.events) AddEventOptions(sub, &output);
    if (spec.log) AddLogOption(sub, &output);
    CommandRunner r = spec.setup(sub, env);
    sub->callback([&runner, &chosen, &spec, r] {
      runner = r;
      chosen = &spec;
    });
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
    std::string message = UsageMessage(app, e);
    std::fprintf(stderr, "virt2rbd: usage error: %s\n", message.c_str());
    std::vector<CLI::App*> parsed = app.get_subcommands();
    if (parsed.empty())
      std::fprintf(stderr, "virt2rbd: hint: run 'virt2rbd --help' or 'virt2rbd COMMAND --help'\n");
    else
      std::fprintf(stderr, "virt2rbd: hint: run 'virt2rbd %s --help'\n", parsed.front()->get_name().c_str());
    if (output.json())
      std::cout << nlohmann::json{{"error", {{"message", message}, {"exit_code", code},
                                             {"meaning", ExitCodeName(code)}}}}.dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
                << std::endl;
    return code;
  }
  nlohmann::json summary;
  Status st = runner && chosen ? SetUpObservers(app.get_subcommands().front(), *chosen, output, &observers)
                               : Status::Internal("no command ran");
  if (st.ok()) st = RunCommand(runner, &output, &summary);
  return Finish(st, output, observers, std::move(summary));
}

}  // namespace v2r
