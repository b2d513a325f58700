#include "migrate/record.h"

#include "base/json_field.h"

namespace v2r {

namespace {

RunState ParseRunState(const std::string& s) {
  if (s == "running") return RunState::kRunning;
  if (s == "paused") return RunState::kPaused;
  if (s == "shut off") return RunState::kShutoff;
  return RunState::kOther;
}


}  // namespace

DiskRecord* MigrationState::Disk(const std::string& target) {
  for (DiskRecord& d : disks)
    if (d.target == target) return &d;
  return nullptr;
}

std::string MigrationState::Phase() const {
  if (!begun) return "none";
  if (rolled_back) return "rolled back";
  if (aborted) return "aborted";
  if (committed) return "committed";
  if (completed) return "migrated";
  return "unfinished";
}

void FoldGuardRecord(const nlohmann::json& r, const std::string& ev, MigrationState* s) {
  if (ev == "copy-untrusted") {
    s->untrusted = true;
    s->untrusted_reason = JsonField<std::string>(r, "reason", "");
  } else if (ev == "rechecked") {
    s->untrusted = false;
  } else if (ev == "autostart-disable") {  // before the change: a crash after it is covered
    s->autostart_off = true;
  } else if (ev == "autostart-restored") {
    s->autostart_off = false;
  }
}

MigrationState FoldJournal(const std::vector<nlohmann::json>& records) {
  MigrationState s;
  for (const nlohmann::json& r : records) {
    std::string ev = JsonField<std::string>(r, "event", "");
    std::string time = JsonField<std::string>(r, "time", "");
    std::string target = JsonField<std::string>(r, "target", "");
    DiskRecord* d = target.empty() ? nullptr : s.Disk(target);
    if (ev == "begin") {
      s = MigrationState();
      s.begun = true;
      s.began_at = time;
      s.domain = JsonField<std::string>(r, "domain", "");
      s.uuid = JsonField<std::string>(r, "uuid", "");
      s.uri = JsonField<std::string>(r, "uri", "");
      s.pool = JsonField<std::string>(r, "pool", "");
      s.user_entity = JsonField<std::string>(r, "user", "");
      s.secret_usage = JsonField<std::string>(r, "secret_usage", "");
      s.cache = JsonField<std::string>(r, "cache", "");
      s.original_state = ParseRunState(JsonField<std::string>(r, "state", ""));
      s.start_after = JsonField<bool>(r, "start_after", false);
      s.hosts = JsonField<std::vector<std::string>>(r, "hosts", {});
      for (const auto& jd : r.value("disks", nlohmann::json::array())) {
        if (!jd.is_object()) continue;
        DiskRecord dr;
        dr.target = JsonField<std::string>(jd, "target", "");
        dr.source = JsonField<std::string>(jd, "source", "");
        dr.image = JsonField<std::string>(jd, "image", "");
        dr.size = JsonField<uint64_t>(jd, "size", 0);
        s.disks.push_back(dr);
      }
    } else if (ev == "vm-stopped") {
      s.vm_stopped = true;
    } else if (ev == "user-create") {
      s.user_create_intent = true;
    } else if (ev == "user-created") {
      s.user_created = true;
    } else if (ev == "user-caps-update") {
      // Before the change: the old caps are known even if we crash after it.
      s.user_caps_updated = true;
      s.user_old_caps = JsonField<CephCaps>(r, "old_caps", {});
    } else if (ev == "user-caps-updated") {
      s.user_caps_updated = true;
      s.user_old_caps = JsonField<CephCaps>(r, "old_caps", {});
    } else if (ev == "user-removed" || ev == "user-caps-restored") {
      s.user_removed = true;
    } else if (ev == "secret-define") {
      s.secret_define_intent = true;
    } else if (ev == "secret-defined") {
      s.secret_uuid = JsonField<std::string>(r, "uuid", "");
      s.secret_created = true;
    } else if (ev == "secret-reused") {
      s.secret_uuid = JsonField<std::string>(r, "uuid", "");
    } else if (ev == "secret-value-set") {
      s.secret_value_set = true;
    } else if (ev == "secret-removed") {
      s.secret_removed = true;
    } else if (ev == "definition-saved") {
      s.definition_saved = true;
    } else if (ev == "image-create" && d) {
      d->create_intent = true;
    } else if (ev == "image-created" && d) {
      d->created = true;
      d->removed = false;
    } else if (ev == "disk-copied" && d) {
      d->copied = true;
      d->digest = JsonField<std::string>(r, "digest", "");
      d->bytes_copied = JsonField<uint64_t>(r, "bytes_copied", 0);
      d->bytes_zero = JsonField<uint64_t>(r, "bytes_zero", 0);
      d->seconds = JsonField<double>(r, "seconds", 0);
      d->verified = JsonField<bool>(r, "verified", false);
      d->chunks_rechecked = JsonField<uint64_t>(r, "chunks_rechecked", 0);
      d->chunks_rewritten = JsonField<uint64_t>(r, "chunks_rewritten", 0);
    } else if (ev == "snapshot-created" && d) {
      d->snapshot = true;
    } else if (ev == "snapshot-removed" && d) {
      d->snapshot = false;
    } else if (ev == "image-removed" && d) {
      d->removed = true;
      d->created = false;
      d->create_intent = false;
      d->copied = false;
      d->snapshot = false;
    } else if (ev == "copied-back" && d) {
      d->copied_back = JsonField<uint64_t>(r, "bytes", 0);
    } else if (ev == "switch") {
      s.switch_intent = true;
    } else if (ev == "switched") {
      s.switched = true;
      s.switched_at = time;
      s.switched_xml_sha256 = JsonField<std::string>(r, "xml_sha256", "");
    } else if (ev == "definition-restored") {
      s.switched = false;
      s.switch_intent = false;
    } else if (ev == "vm-started") {
      s.started = true;
    } else if (ev == "completed") {
      s.completed = true;
      s.completed_at = time;
    } else if (ev == "aborted") {
      s.aborted = true;
      s.abort_reason = JsonField<std::string>(r, "reason", "");
    } else if (ev == "rollback-begin") {
      s.rollback_begun = true;
    } else if (ev == "rollback-cancelled") {  // rollback.cc: refused after rollback-begin, VM back on RBD
      s.rollback_begun = false;
    } else if (ev == "rolled-back") {
      s.rolled_back = true;
      s.rolled_back_at = time;
    } else if (ev == "committed") {
      s.committed = true;
      s.committed_at = time;
    }
    FoldLiveRecord(r, ev, &s);   // live mode's events (record_live.cc)
    FoldGuardRecord(r, ev, &s);  // the source guard's
  }
  return s;
}

}  // namespace v2r
