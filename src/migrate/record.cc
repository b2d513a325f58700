// The fold of the journal: one function per record type, in a table
// (record types: migrate/records.h; live mode's folds: record_live.cc).
#include "migrate/record.h"

#include <fmt/format.h>

#include <map>

#include "base/json_field.h"
#include "migrate/record_fold.h"

namespace v2r {

namespace {

RunState ParseRunState(const std::string& s) {
  if (s == "running") return RunState::kRunning;
  if (s == "paused") return RunState::kPaused;
  if (s == "shut off") return RunState::kShutoff;
  return RunState::kOther;
}

std::string Str(const Record& r, const char* key) { return JsonField<std::string>(r, key, ""); }

void FoldVersion(const Record& r, MigrationState& s, DiskRecord*) {
  s.journal_format = JsonField<int>(r, "format", 0);
  s.written_by = Str(r, "virt2rbd");
}

void FoldBegin(const Record& r, MigrationState& s, DiskRecord*) {
  // A second begin starts afresh; the journal's format stays.
  MigrationState fresh;
  fresh.journal_format = s.journal_format;
  fresh.written_by = s.written_by;
  s = std::move(fresh);
  s.begun = true;
  s.began_at = Str(r, "time");
  s.live = Str(r, "mode") == "live";
  s.domain = Str(r, "domain");
  s.uuid = Str(r, "uuid");
  s.uri = Str(r, "uri");
  s.pool = Str(r, "pool");
  s.user_entity = Str(r, "user");
  s.secret_usage = Str(r, "secret_usage");
  s.cache = Str(r, "cache");
  s.original_state = ParseRunState(Str(r, "state"));
  s.start_after = JsonField<bool>(r, "start_after", false);
  s.hosts = JsonField<std::vector<std::string>>(r, "hosts", {});
  for (const auto& jd : r.value("disks", nlohmann::json::array())) {
    if (!jd.is_object()) continue;
    DiskRecord dr;
    dr.target = Str(jd, "target");
    dr.source = Str(jd, "source");
    dr.format = JsonField<std::string>(jd, "format", "raw");  // 0.1.0 moved raw disks only
    dr.volume = JsonField<std::string>(jd, "volume", "");  // optional: volume disks only
    dr.protocol = JsonField<std::string>(jd, "protocol", "");
    dr.image = Str(jd, "image");
    dr.size = JsonField<uint64_t>(jd, "size", 0);
    if (jd.contains("slice") && jd["slice"].is_object()) {
      dr.slice_offset = JsonField<uint64_t>(jd["slice"], "offset", 0);
      dr.slice_size = JsonField<uint64_t>(jd["slice"], "size", 0);
    }
    s.disks.push_back(dr);
  }
}

// user-caps-update is written before the change: the old caps are known
// even after a crash inside it.
void FoldCapsUpdate(const Record& r, MigrationState& s, DiskRecord*) {
  s.user_caps_updated = true;
  s.user_old_caps = JsonField<CephCaps>(r, "old_caps", {});
}

void FoldSecretDefined(const Record& r, MigrationState& s, DiskRecord*) {
  s.secret_uuid = Str(r, "uuid");
  s.secret_created = true;
}

void FoldExportStart(const Record& r, MigrationState&, DiskRecord* d) {
  d->export_socket = Str(r, "socket");
  d->export_pid = 0;
}
void FoldExportStarted(const Record& r, MigrationState&, DiskRecord* d) {
  d->export_pid = JsonField<int64_t>(r, "pid", 0);
}
void FoldExportStopped(const Record&, MigrationState&, DiskRecord* d) {
  d->export_socket.clear();
  d->export_pid = 0;
}

void FoldSourceSnapshot(const Record& r, MigrationState&, DiskRecord* d) {
  d->source_snapshot = true;
  d->source_snapshot_at = r;
}
void FoldSourceSnapshotRemoved(const Record&, MigrationState&, DiskRecord* d) { d->source_snapshot = false; }

void FoldImageRemoved(const Record&, MigrationState&, DiskRecord* d) {
  d->removed = true;
  d->created = d->create_intent = d->copied = d->snapshot = false;
  d->live.copy_started = d->live.snapshot_at_pivot = d->live.sparsified = false;
}

void FoldDiskCopied(const Record& r, MigrationState&, DiskRecord* d) {
  d->copied = true;
  d->digest = Str(r, "digest");
  d->bytes_copied = JsonField<uint64_t>(r, "bytes_copied", 0);
  d->bytes_zero = JsonField<uint64_t>(r, "bytes_zero", 0);
  d->seconds = JsonField<double>(r, "seconds", 0);
  d->verified = JsonField<bool>(r, "verified", false);
  d->chunks_rechecked = JsonField<uint64_t>(r, "chunks_rechecked", 0);
  d->chunks_rewritten = JsonField<uint64_t>(r, "chunks_rewritten", 0);
}

void FoldSwitched(const Record& r, MigrationState& s, DiskRecord*) {
  s.switched = true;
  s.switched_at = Str(r, "time");
  s.switched_xml_sha256 = Str(r, "xml_sha256");
}

// Folds that set one flag (of the state or of the record's disk).
#define V2R_SET(name, stmt) \
  void name(const Record& r, MigrationState& s, DiskRecord* d) { (void)r; (void)s; (void)d; stmt; }
V2R_SET(FoldVmStopped, s.vm_stopped = true)
V2R_SET(FoldUserCreate, s.user_create_intent = true)
V2R_SET(FoldUserCreated, s.user_created = true)
V2R_SET(FoldUserRemoved, s.user_removed = true)
V2R_SET(FoldSecretDefine, s.secret_define_intent = true)
V2R_SET(FoldSecretReused, s.secret_uuid = Str(r, "uuid"))
V2R_SET(FoldSecretValueSet, s.secret_value_set = true)
V2R_SET(FoldSecretRemoved, s.secret_removed = true)
V2R_SET(FoldDefinitionSaved, s.definition_saved = true)
V2R_SET(FoldImageCreate, d->create_intent = true)
V2R_SET(FoldImageCreated, d->created = true; d->removed = false)
V2R_SET(FoldSnapshotCreated, d->snapshot = true; d->live.snapshot_at_pivot = JsonField<bool>(r, "at_pivot", false))
V2R_SET(FoldSnapshotRemoved, d->snapshot = false; d->live.snapshot_at_pivot = false)
V2R_SET(FoldCopiedBack, d->copied_back = JsonField<uint64_t>(r, "bytes", 0))
V2R_SET(FoldSwitch, s.switch_intent = true)
V2R_SET(FoldDefinitionRestored, s.switched = false; s.switch_intent = false)
V2R_SET(FoldVmStarted, s.started = true)
V2R_SET(FoldCompleted, s.completed = true; s.completed_at = Str(r, "time"))
V2R_SET(FoldAborted, s.aborted = true; s.abort_reason = Str(r, "reason"))
V2R_SET(FoldRollbackBegin, s.rollback_begun = true)
V2R_SET(FoldRollbackCancelled, s.rollback_begun = false)  // refused after rollback-begin: VM back on RBD
V2R_SET(FoldRolledBack, s.rolled_back = true; s.rolled_back_at = Str(r, "time"))
V2R_SET(FoldCommitted, s.committed = true; s.committed_at = Str(r, "time"))
// The source guard (docs/journal.md, "The source guard").
V2R_SET(FoldCopyUntrusted, s.untrusted = true; s.untrusted_reason = Str(r, "reason"))
V2R_SET(FoldRechecked, s.untrusted = false)
V2R_SET(FoldAutostartDisable, s.autostart_off = true)  // before the change: a crash after it is covered
V2R_SET(FoldAutostartRestored, s.autostart_off = false)
#undef V2R_SET

using RT = RecordType;

// fold == nullptr: the record says what happened, the state does not change.
// per_disk: folded only when its "target" names a disk of the migration.
const std::map<RecordType, FoldEntry>& OfflineFolds() {
  static const std::map<RecordType, FoldEntry> table = {
      {RT::kJournal, {FoldVersion, false}},     {RT::kBegin, {FoldBegin, false}},
      {RT::kVmStop, {nullptr, false}},          {RT::kVmStopped, {FoldVmStopped, false}},
      {RT::kUserCreate, {FoldUserCreate, false}}, {RT::kUserCreated, {FoldUserCreated, false}},
      {RT::kUserReused, {nullptr, false}},      {RT::kUserCapsUpdate, {FoldCapsUpdate, false}},
      {RT::kUserCapsUpdated, {FoldCapsUpdate, false}}, {RT::kUserRemoved, {FoldUserRemoved, false}},
      {RT::kUserCapsRestored, {FoldUserRemoved, false}}, {RT::kSecretDefine, {FoldSecretDefine, false}},
      {RT::kSecretDefined, {FoldSecretDefined, false}}, {RT::kSecretReused, {FoldSecretReused, false}},
      {RT::kSecretValueSet, {FoldSecretValueSet, false}}, {RT::kSecretRemoved, {FoldSecretRemoved, false}},
      {RT::kDefinitionSaved, {FoldDefinitionSaved, false}},
      {RT::kDefinitionRestored, {FoldDefinitionRestored, false}},
      {RT::kAutostartDisable, {FoldAutostartDisable, false}},
      {RT::kAutostartRestored, {FoldAutostartRestored, false}},
      {RT::kImageCreate, {FoldImageCreate, true}}, {RT::kImageCreated, {FoldImageCreated, true}},
      {RT::kImageRemoved, {FoldImageRemoved, true}}, {RT::kCopyResume, {nullptr, true}},
      {RT::kExportStart, {FoldExportStart, true}}, {RT::kExportStarted, {FoldExportStarted, true}},
      {RT::kExportStopped, {FoldExportStopped, true}},
      {RT::kSourceSnapshot, {FoldSourceSnapshot, true}},
      {RT::kSourceSnapshotRemoved, {FoldSourceSnapshotRemoved, true}},
      {RT::kDiskCopied, {FoldDiskCopied, true}}, {RT::kCopyUntrusted, {FoldCopyUntrusted, false}},
      {RT::kRechecked, {FoldRechecked, false}}, {RT::kSnapshotCreated, {FoldSnapshotCreated, true}},
      {RT::kSnapshotRemoved, {FoldSnapshotRemoved, true}}, {RT::kSwitch, {FoldSwitch, false}},
      {RT::kSwitched, {FoldSwitched, false}},   {RT::kVmStart, {nullptr, false}},
      {RT::kVmStarted, {FoldVmStarted, false}}, {RT::kVmRestarted, {nullptr, false}},
      {RT::kCompleted, {FoldCompleted, false}}, {RT::kAbortBegin, {nullptr, false}},
      {RT::kAborted, {FoldAborted, false}},     {RT::kRollbackBegin, {FoldRollbackBegin, false}},
      {RT::kRollbackCancelled, {FoldRollbackCancelled, false}}, {RT::kCopyBack, {nullptr, true}},
      {RT::kCopiedBack, {FoldCopiedBack, true}}, {RT::kCopyBackStopped, {nullptr, false}},
      {RT::kRolledBack, {FoldRolledBack, false}}, {RT::kCommitted, {FoldCommitted, false}},
  };
  return table;
}

const std::map<RecordType, FoldEntry>& FoldTable() {
  static const std::map<RecordType, FoldEntry> table = [] {
    std::map<RecordType, FoldEntry> t = OfflineFolds();
    for (const auto& [type, entry] : LiveFolds()) t.emplace(type, entry);
    return t;
  }();
  return table;
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

bool HasFold(RecordType t) { return FoldTable().count(t) > 0; }

Status FoldRecord(const Record& r, size_t index, MigrationState* s) {
  std::string ev = r.is_object() ? JsonField<std::string>(r, "event", "") : "";
  std::optional<RecordType> type = ParseRecordType(ev);
  auto entry = type ? FoldTable().find(*type) : FoldTable().end();
  if (entry == FoldTable().end())
    return Status::Refused(
        ev.empty() ? fmt::format("journal record {} has no record type", index + 1)
                   : fmt::format("journal record {} has the record type \"{}\", unknown to virt2rbd {}", index + 1,
                                 ev, V2R_VERSION),
        "the journal was written by a newer virt2rbd: use that version (or newer) on this domain");
  if (!entry->second.fold) return Status::Ok();
  DiskRecord* d = nullptr;
  if (entry->second.per_disk) {
    d = s->Disk(JsonField<std::string>(r, "target", ""));
    if (!d) return Status::Ok();  // a disk the migration does not move: nothing to fold
  }
  entry->second.fold(r, *s, d);
  if (s->journal_format > kJournalFormat || s->journal_format < 1)
    return Status::Refused(fmt::format("the journal has format {} (written by virt2rbd {}); virt2rbd {} reads "
                                       "formats 1 to {}",
                                       s->journal_format, s->written_by.empty() ? "?" : s->written_by, V2R_VERSION,
                                       kJournalFormat),
                           "use the virt2rbd that wrote it (or a newer one) on this domain");
  return Status::Ok();
}

Status AppendRecord(Journal& journal, Record record) {
  if (journal.records().empty()) V2R_RETURN_IF_ERROR(journal.Append(rec::JournalVersion()));
  return journal.Append(std::move(record));
}

Result<MigrationState> FoldJournal(const std::vector<Record>& records) {
  MigrationState s;
  for (size_t i = 0; i < records.size(); ++i) V2R_RETURN_IF_ERROR(FoldRecord(records[i], i, &s));
  return s;
}

}  // namespace v2r
