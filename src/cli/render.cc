#include "cli/render.h"

#include <fmt/format.h>

#include "base/units.h"

namespace v2r {

namespace {

const char* DecisionName(DiskDecision d) {
  switch (d) {
    case DiskDecision::kMove: return "moves";
    case DiskDecision::kStay: return "stays";
    case DiskDecision::kRefuse: return "refused";
  }
  return "?";
}

const char* StopName(StopAction a) {
  switch (a) {
    case StopAction::kNone: return "none";
    case StopAction::kShutdown: return "shutdown";
    case StopAction::kForceOff: return "force-off";
    case StopAction::kShutdownThenForce: return "shutdown, then force-off after the timeout";
  }
  return "?";
}

std::string CapsText(const CephCaps& caps) {
  std::string s;
  for (const auto& [k, v] : caps) s += fmt::format("{}{} '{}'", s.empty() ? "" : " ", k, v);
  return s.empty() ? "(none)" : s;
}

std::string HostsText(const std::vector<MonHost>& hosts) {
  if (hosts.empty()) return "none (qemu reads the hypervisor's ceph.conf)";
  std::vector<std::string> parts;
  for (const MonHost& h : hosts) parts.push_back(h.port > 0 ? fmt::format("{}:{}", h.host, h.port) : h.host);
  return fmt::format("{}", fmt::join(parts, ", "));
}

// What the images will hold in the pool. Files report their allocation
// exactly; a block device only its size (an upper bound: zeros are not
// written), so the space needed is known only up to that bound.
std::string SpaceText(const Plan& p) {
  std::string room = p.available_bytes == UINT64_MAX ? "unknown (no mgr)" : FormatBytes(p.available_bytes);
  if (p.known_bytes == p.upper_bytes)
    return fmt::format("Space: the images will hold about {} of data (zeros are not written); room in the pool {}\n",
                       FormatBytes(p.known_bytes), room);
  return fmt::format("Space: the images will hold {} to {} of data: block devices count at their full size, as "
                     "what they hold is unknown until read (zeros are not written); room in the pool {}\n",
                     FormatBytes(p.known_bytes), FormatBytes(p.upper_bytes), room);
}

}  // namespace

std::string FormatStepTime(double seconds) {
  if (seconds < 60) return fmt::format("{:.1f} s", seconds < 0 ? 0.0 : seconds);
  return FormatDuration(seconds);
}

std::string StepLine(const Step& step) {
  if (step.count > 0) return fmt::format("[{}/{}] {}", step.index, step.count, step.title);
  return fmt::format("[{}] {}", step.index, step.title);
}

std::string StepOutcome(const Status& result, double seconds) {
  if (result.ok()) return fmt::format("ok ({})", FormatStepTime(seconds));
  return fmt::format("failed ({}): {}", FormatStepTime(seconds), result.message());
}

std::string PlanText(const Plan& p, bool show_diff) {
  std::string s = fmt::format("Plan for domain {} ({}), pool {}\n", p.domain, p.uuid, p.pool);
  s += fmt::format("  VM: {}", RunStateName(p.state));
  if (p.stop != StopAction::kNone) s += fmt::format("; will be stopped ({})", StopName(p.stop));
  if (p.live)
    s += "; keeps running: live block copies, then a pivot (paused well under a second)\n";
  else
    s += p.start_after ? "; started again on RBD afterwards\n" : "; left shut off afterwards\n";
  if (!p.live)
    s += "  Watched from shut off until switched: if anyone starts it meanwhile, nothing is switched (exit 6)\n";
  if (p.autostart_paused) s += "  Autostart: on; switched off while the disks are copied, on again afterwards\n";
  s += "Disks:\n";
  for (const DiskPlan& d : p.disks) {
    if (d.decision == DiskDecision::kMove) {
      s += fmt::format("  {:<5} moves  {} {}  {} bytes ({}), allocated {}{}{}  ->  {}/{}\n", d.disk.target,
                       d.disk.type, d.disk.source, d.size, FormatBytes(d.size),
                       d.allocated_upper_bound ? "at most " : "", FormatBytes(d.allocated),
                       d.allocated_upper_bound ? " (upper bound: block device)" : "", p.pool, d.image);
      if (!d.disk.volume.empty())
        s += fmt::format("        pool volume {}/{} ({} pool): {} {}, format {}\n", d.disk.pool, d.disk.volume,
                         d.pool_type, d.disk.type, d.disk.source, d.disk.driver_type.empty() ? "raw" : d.disk.driver_type);
      if (!d.read_path.empty() && d.read_path != "direct")
        s += fmt::format("        read through {}: the guest-visible bytes, one flat raw image\n", d.read_path);
    } else {
      s += fmt::format("  {:<5} {:<6} {} {}: {}\n", d.disk.target, DecisionName(d.decision),
                       d.disk.device, d.disk.source.empty() ? "(no source)" : d.disk.source, d.reason);
    }
  }
  s += SpaceText(p);
  switch (p.user_action) {
    case UserAction::kReuse:
      s += fmt::format("Cephx user {}: reused, its caps give RBD access to {} ({})\n", p.user_entity, p.pool,
                       CapsText(p.user_caps_before));
      break;
    case UserAction::kCreate:
      s += fmt::format("Cephx user {}: will be created with {}\n", p.user_entity, CapsText(p.user_caps_after));
      break;
    case UserAction::kUpdateCaps:
      s += fmt::format("Cephx user {}: caps {} -> {}\n", p.user_entity, CapsText(p.user_caps_before),
                       CapsText(p.user_caps_after));
      break;
  }
  if (p.secret_uuid)
    s += fmt::format("Libvirt secret '{}': reused ({}); its value is set to the key of {}\n", p.secret_usage,
                     *p.secret_uuid, p.user_entity);
  else
    s += fmt::format("Libvirt secret '{}': new, will be defined (ephemeral='no' private='yes'; its uuid is chosen "
                     "by libvirt then) with the key of {}\n",
                     p.secret_usage, p.user_entity);
  s += fmt::format("Monitors in the XML: {}\n", HostsText(p.hosts));
  s += fmt::format("Driver: cache='{}' discard='unmap' type='raw'\n", p.cache);
  for (const std::string& d : p.dropped) s += fmt::format("Dropped: {}\n", d);
  for (const std::string& w : p.warnings) s += fmt::format("Warning: {}\n", w);
  if (show_diff && !p.xml_diff.empty()) s += "Domain XML diff:\n" + p.xml_diff;
  if (p.refusals.empty()) {
    s += "Result: migrate would proceed\n";
  } else {
    s += fmt::format("Result: migrate would REFUSE ({} reason{}):\n", p.refusals.size(),
                     p.refusals.size() == 1 ? "" : "s");
    for (const std::string& r : p.refusals) s += "  - " + r + "\n";
  }
  return s;
}

nlohmann::json PlanJson(const Plan& p) {
  nlohmann::json disks = nlohmann::json::array();
  for (const DiskPlan& d : p.disks)
    disks.push_back({{"target", d.disk.target},
                     {"device", d.disk.device},
                     {"type", d.disk.type},
                     {"source", d.disk.source},
                     {"decision", DecisionName(d.decision)},
                     {"reason", d.reason},
                     {"image", d.image.empty() ? nlohmann::json() : nlohmann::json(p.pool + "/" + d.image)},
                     {"size", d.size},
                     {"allocated", d.allocated},
                     {"allocated_upper_bound", d.allocated_upper_bound},
                     {"format", d.disk.driver_type.empty() ? "raw" : d.disk.driver_type},
                     {"read_path", d.read_path.empty() ? nlohmann::json() : nlohmann::json(d.read_path)},
                     {"volume", d.disk.volume.empty() ? nlohmann::json()
                                                      : nlohmann::json({{"pool", d.disk.pool},
                                                                        {"volume", d.disk.volume},
                                                                        {"pool_type", d.pool_type}})}});
  nlohmann::json hosts = nlohmann::json::array();
  for (const MonHost& h : p.hosts) hosts.push_back({{"host", h.host}, {"port", h.port}});
  const char* user_action = p.user_action == UserAction::kReuse    ? "reuse"
                            : p.user_action == UserAction::kCreate ? "create"
                                                                   : "update-caps";
  return {{"domain", p.domain},
          {"uuid", p.uuid},
          {"pool", p.pool},
          {"state", RunStateName(p.state)},
          {"stop", StopName(p.stop)},
          {"start_after", p.start_after},
          {"autostart_paused", p.autostart_paused},
          {"live", p.live},
          {"disks", disks},
          {"user", {{"entity", p.user_entity}, {"action", user_action}, {"caps_before", p.user_caps_before},
                    {"caps_after", p.user_caps_after}}},
          {"secret", {{"usage", p.secret_usage},
                      {"action", p.secret_uuid ? "reuse" : "define"},
                      {"uuid", p.secret_uuid ? nlohmann::json(*p.secret_uuid) : nlohmann::json()}}},
          {"mon_hosts", hosts},
          {"cache", p.cache},
          {"dropped", p.dropped},
          {"known_bytes", p.known_bytes},
          {"upper_bytes", p.upper_bytes},
          {"available_bytes", p.available_bytes},
          {"warnings", p.warnings},
          {"refusals", p.refusals},
          {"would_proceed", p.refusals.empty()},
          {"xml_diff", p.xml_diff}};
}

std::string StateText(const MigrationState& st) {
  // "migrated 2025-01-31T..."; "committed (migrated ..., committed ...)":
  // the phase named once, with what happened when.
  std::vector<std::string> when;
  if (st.completed) when.push_back("migrated " + st.completed_at);
  if (st.committed) when.push_back("committed " + st.committed_at);
  if (st.rolled_back) when.push_back("rolled back " + st.rolled_back_at);
  std::string s = fmt::format("{} ({}): ", st.domain, st.uuid);
  if (when.size() == 1 && when[0].rfind(st.Phase() + " ", 0) == 0) s += when[0];
  else if (!when.empty()) s += fmt::format("{} ({})", st.Phase(), fmt::join(when, ", "));
  else s += st.Phase();
  if (st.aborted) s += fmt::format(": {}", st.abort_reason);
  if (st.Phase() == "unfinished") s += fmt::format(" (began {}; rerun migrate to resume, or rollback)", st.began_at);
  s += fmt::format("\n  pool {}, user {}, secret {}\n", st.pool, st.user_entity,
                   st.secret_uuid.empty() ? "-" : st.secret_uuid);
  if (st.untrusted && !st.Finished())
    s += fmt::format("  the copy is not trusted: {}\n  (a rerun of migrate checks every disk against its source "
                     "and copies again only what changed)\n", st.untrusted_reason);
  if (st.autostart_off && !st.Finished()) s += "  autostart is off until the migration ends (virt2rbd turned it off)\n";
  for (const DiskRecord& d : st.disks) {
    s += fmt::format("  {:<5} {} -> {}/{}  {} bytes", d.target, d.source, st.pool, d.image, d.size);
    if (!d.volume.empty()) s += fmt::format(" (pool volume {}, {})", d.volume, d.format);
    if (d.copied)
      s += fmt::format(", {} copied, {} zero, {}, {}", FormatBytes(d.bytes_copied), FormatBytes(d.bytes_zero),
                       d.digest, d.verified ? "verified" : "NOT verified");
    else if (d.removed) s += ", image removed";
    else s += ", not copied";
    if (d.copied && d.chunks_rechecked > 0)
      s += fmt::format(", {} chunk{} checked against the source again, {} rewritten", d.chunks_rechecked,
                       d.chunks_rechecked == 1 ? "" : "s", d.chunks_rewritten);
    if (d.snapshot) s += ", rollback point kept";
    if (d.live.pivoted) s += fmt::format(", pivoted live in {:.0f} ms", d.live.pivot_ms);
    if (d.live.sparsified)
      s += fmt::format(", sparsified {} -> {}", FormatBytes(d.live.used_before_sparsify),
                       FormatBytes(d.live.used_after_sparsify));
    s += "\n";
  }
  return s;
}

nlohmann::json StateJson(const MigrationState& st) {
  nlohmann::json disks = nlohmann::json::array();
  for (const DiskRecord& d : st.disks)
    disks.push_back({{"target", d.target}, {"source", d.source}, {"image", st.pool + "/" + d.image},
                     {"size", d.size}, {"copied", d.copied}, {"bytes_copied", d.bytes_copied},
                     {"bytes_zero", d.bytes_zero}, {"seconds", d.seconds}, {"digest", d.digest},
                     {"verified", d.verified}, {"rollback_snapshot", d.snapshot}, {"removed", d.removed},
                     {"chunks_rechecked", d.chunks_rechecked}, {"chunks_rewritten", d.chunks_rewritten}});
  // A pool volume disk: what it was and resolved to (other disks: as release 0.1.0 showed them).
  for (size_t i = 0; i < st.disks.size(); ++i)
    if (!st.disks[i].volume.empty()) {
      disks[i]["volume"] = st.disks[i].volume;
      disks[i]["format"] = st.disks[i].format;
    }
  if (st.live) {
    for (size_t i = 0; i < st.disks.size(); ++i) {
      const LiveDiskRecord& l = st.disks[i].live;
      disks[i]["live"] = {{"pivoted", l.pivoted}, {"pivot_ms", l.pivot_ms},
                          {"snapshot_at_pivot", l.snapshot_at_pivot}, {"sparsified", l.sparsified},
                          {"used_before_sparsify", l.used_before_sparsify},
                          {"used_after_sparsify", l.used_after_sparsify}, {"copied_back", l.pivoted_back}};
    }
  }
  nlohmann::json out = {{"domain", st.domain},       {"uuid", st.uuid},
          {"phase", st.Phase()},       {"began_at", st.began_at},
          {"completed_at", st.completed_at}, {"committed_at", st.committed_at},
          {"rolled_back_at", st.rolled_back_at}, {"abort_reason", st.abort_reason},
          {"pool", st.pool},           {"user", st.user_entity},
          {"secret_uuid", st.secret_uuid}, {"user_created", st.user_created},
          {"secret_created", st.secret_created}, {"disks", disks}};
  out["mode"] = st.live ? "live" : "offline";
  out["untrusted"] = st.untrusted;
  out["untrusted_reason"] = st.untrusted_reason;
  out["autostart_off"] = st.autostart_off;
  if (st.live)
    out["live"] = {{"pivot_begin_ms", st.pivot_begin_ms}, {"pivot_end_ms", st.pivot_end_ms},
                   {"pause_begin_ms", st.pause_begin_ms}, {"pause_end_ms", st.pause_end_ms},
                   {"paused_ms", st.paused_ms}};
  return out;
}

namespace {

struct SpaceTotals {
  uint64_t written = 0, zeros = 0, rbd = 0;
};

SpaceTotals TotalSpace(const MigrationState& st, const std::map<std::string, uint64_t>& used) {
  SpaceTotals t;
  for (const DiskRecord& d : st.disks) {
    t.written += d.bytes_copied;
    t.zeros += d.bytes_zero;
  }
  for (const auto& [target, bytes] : used) t.rbd += bytes;
  return t;
}

}  // namespace

std::string SpaceSummaryText(const MigrationState& st, const std::map<std::string, uint64_t>& used) {
  auto [written, zeros, rbd] = TotalSpace(st, used);
  std::string s = fmt::format("Data: {} written, {} of zeros skipped (not written: RBD reads unwritten space as "
                              "zeros); RBD space used: {}\n",
                              FormatBytes(written), FormatBytes(zeros),
                              used.empty() ? std::string("unknown") : FormatBytes(rbd));
  if (!used.empty() && rbd > written)
    s += "  (RBD stores an image in whole objects, 4 MiB by default: an object any write touched counts whole, as "
         "`rbd du` counts it, so the space used exceeds the data written)\n";
  return s;
}

nlohmann::json SpaceJson(const MigrationState& st, const std::map<std::string, uint64_t>& used) {
  auto [written, zeros, rbd] = TotalSpace(st, used);
  nlohmann::json per = nlohmann::json::object();
  for (const auto& [t, b] : used) per[t] = b;
  return {{"data_written", written}, {"zeros_skipped", zeros},
          {"rbd_used", used.empty() ? nlohmann::json() : nlohmann::json(rbd)}, {"rbd_used_by_disk", per}};
}

}  // namespace v2r
