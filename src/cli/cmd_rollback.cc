// virt2rbd rollback DOMAIN / commit DOMAIN / status [DOMAIN]
#include <unistd.h>

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>

#include "cli/commands.h"
#include "cli/render.h"
#include "migrate/state_dir.h"
#include "migrate/migrate.h"

namespace v2r {

namespace {

struct RollbackArgs {
  RollbackOptions opts;
  bool start = false, no_start = false;
};

struct CommonArgs {
  std::string domain, connect, state_dir = kDefaultStateDir;
  CephOptions ceph;
};

void AddCommon(CLI::App* sub, CommonArgs* a, bool domain_required) {
  auto* d = sub->add_option("DOMAIN", a->domain, "libvirt domain name or uuid");
  if (domain_required) d->required();
  sub->add_option("--connect", a->connect, "libvirt URI (default: $LIBVIRT_DEFAULT_URI, then qemu:///system)");
  sub->add_option("--state-dir", a->state_dir, "where journals and saved definitions live (default /var/lib/virt2rbd)");
  AddCephOptions(sub, &a->ceph);
}

// A command on CommonArgs: resolves their Ceph options, then runs `body`.
CommandRunner CommonCommand(CLI::App* sub, const CommandEnv& env, bool domain_required,
                            std::function<Status(const CommonArgs&, nlohmann::json*)> body) {
  auto a = std::make_shared<CommonArgs>();
  AddCommon(sub, a.get(), domain_required);
  return [a, body](nlohmann::json* out) -> Status {
    V2R_RETURN_IF_ERROR(ResolveCeph(&a->ceph));
    return body(*a, out);
  };
}

}  // namespace

CommandRunner SetupRollbackCommand(CLI::App* sub, const CommandEnv& env) {
  auto a = std::make_shared<RollbackArgs>();
  RollbackOptions& o = a->opts;
  sub->add_option("DOMAIN", o.domain, "libvirt domain name or uuid")->required();
  sub->add_option("--connect", o.connect, "libvirt URI (default: $LIBVIRT_DEFAULT_URI, then qemu:///system)");
  sub->add_option("--state-dir", o.state_dir, "where journals and saved definitions live (default /var/lib/virt2rbd)");
  AddCephOptions(sub, &o.ceph);
  AddShutdownOptions(sub, &o.shutdown, &o.force_off, &o.shutdown_timeout_s);
  sub->add_flag("--start", a->start, "start the VM on its original disks (default: if it was running)");
  sub->add_flag("--no-start", a->no_start, "leave the VM shut off");
  sub->add_flag("--copy-back", o.copy_back, "write what the VM changed on RBD back to the original disks first");
  sub->add_flag("--discard-changes", o.discard_changes, "roll back even though the images changed");
  sub->add_flag("--remove-images", o.remove_images, "remove the RBD images afterwards");
  sub->add_option("--libvirt-timeout", o.libvirt_timeout_s,
                  "after a lost libvirt connection, wait this many seconds for it to answer again before "
                  "stopping, resumable (exit 75) (default 120)")
      ->check(CLI::PositiveNumber);
  sub->add_flag("--live", o.live,
                "copy a running VM back onto its original disks without stopping it (block copies, then a pivot)");
  return [a, env](nlohmann::json* out) -> Status {
    if (a->start && a->no_start) return Status::Usage("--start and --no-start are mutually exclusive");
    if (a->opts.live && (a->opts.shutdown || a->opts.force_off))
      return Status::Usage("--live keeps the VM running: it cannot be combined with --shutdown or --force-off");
    if (a->opts.live && a->opts.discard_changes)
      return Status::Usage("--live copies every change back: it cannot be combined with --discard-changes");
    if (a->opts.live && a->no_start) return Status::Usage("--live keeps the VM running: --no-start does not apply");
    if (a->start) a->opts.start = true;
    if (a->no_start) a->opts.start = false;
    V2R_RETURN_IF_ERROR(ResolveCeph(&a->opts.ceph));
    auto r = RunRollback(a->opts, MakeRunContext(env));
    if (!r.ok()) return r.status();
    nlohmann::json changed = nlohmann::json::object();  // always: the event stream's report has it too
    for (const auto& [t, b] : r->changed) changed[t] = b;
    *out = {{"message", r->message}, {"changed_bytes", changed}, {"migration", StateJson(r->state)}};
    if (!env.output->json()) std::printf("%s\n", r->message.c_str());
    return Status::Ok();
  };
}

CommandRunner SetupCommitCommand(CLI::App* sub, const CommandEnv& env) {
  return CommonCommand(sub, env, true, [env](const CommonArgs& c, nlohmann::json* out) -> Status {
    auto st = RunCommit(c.domain, c.connect, c.ceph, c.state_dir, MakeRunContext(env));
    if (!st.ok()) return st.status();
    *out = {{"message", "migration of " + c.domain + " committed: the rollback snapshots are removed"},
            {"migration", StateJson(*st)}};
    if (!env.output->json()) std::printf("migration of %s committed: the rollback snapshots are removed\n", c.domain.c_str());
    return Status::Ok();
  });
}

CommandRunner SetupStatusCommand(CLI::App* sub, const CommandEnv& env) {
  return CommonCommand(sub, env, false, [env](const CommonArgs& c, nlohmann::json* out) -> Status {
    std::vector<std::string> warnings;
    auto entries = RunStatus(c.domain, c.connect, c.ceph, c.state_dir, &warnings);
    if (!entries.ok()) return entries.status();
    for (const std::string& w : warnings) std::fprintf(stderr, "virt2rbd: warning: %s\n", w.c_str());
    if (env.output->json()) {
      nlohmann::json list = nlohmann::json::array();
      for (const StatusEntry& e : *entries) {
        nlohmann::json j = StateJson(e.state);
        j["drift"] = e.drift;
        std::string log = StateDir::DomainDirOf(c.state_dir, e.state.uuid) + "/log";
        j["log"] = ::access(log.c_str(), F_OK) == 0 ? nlohmann::json(log) : nlohmann::json();
        list.push_back(j);
      }
      *out = {{"migrations", list}, {"warnings", warnings}};
    } else {
      if (entries->empty()) std::printf("no migrations recorded in %s\n", c.state_dir.c_str());
      for (const StatusEntry& e : *entries) {
        std::fputs(StateText(e.state).c_str(), stdout);
        std::string log = StateDir::DomainDirOf(c.state_dir, e.state.uuid) + "/log";
        if (::access(log.c_str(), F_OK) == 0) std::printf("  log: %s\n", log.c_str());
        for (const std::string& d : e.drift) std::printf("  DRIFT: %s\n", d.c_str());
      }
    }
    return Status::Ok();
  });
}

}  // namespace v2r
