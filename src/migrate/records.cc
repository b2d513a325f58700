#include "migrate/records.h"

#include <map>

namespace v2r {

namespace {

struct TypeName {
  RecordType type;
  const char* name;
};

constexpr TypeName kTypeNames[] = {
#define V2R_RECORD_ENTRY(e, name) {RecordType::e, name},
    V2R_RECORD_TYPES(V2R_RECORD_ENTRY)
#undef V2R_RECORD_ENTRY
};

}  // namespace

const std::vector<RecordType>& AllRecordTypes() {
  static const std::vector<RecordType> all = [] {
    std::vector<RecordType> v;
    for (const TypeName& t : kTypeNames) v.push_back(t.type);
    return v;
  }();
  return all;
}

const char* RecordTypeName(RecordType t) { return kTypeNames[static_cast<size_t>(t)].name; }

std::optional<RecordType> ParseRecordType(std::string_view name) {
  static const std::map<std::string_view, RecordType> by_name = [] {
    std::map<std::string_view, RecordType> m;
    for (const TypeName& t : kTypeNames) m.emplace(t.name, t.type);
    return m;
  }();
  auto it = by_name.find(name);
  if (it == by_name.end()) return std::nullopt;
  return it->second;
}

Record MakeRecord(RecordType t, nlohmann::json fields) {
  Record r = {{"event", RecordTypeName(t)}};
  if (fields.is_object()) r.update(fields);
  return r;
}

namespace rec {

using RT = RecordType;

Record JournalVersion() { return MakeRecord(RT::kJournal, {{"format", kJournalFormat}, {"virt2rbd", V2R_VERSION}}); }
Record Begin(nlohmann::json fields) { return MakeRecord(RT::kBegin, std::move(fields)); }
Record VmStop(bool shutdown, bool force_off) {
  return MakeRecord(RT::kVmStop, {{"shutdown", shutdown}, {"force_off", force_off}});
}
Record VmStopped(const std::string& how) { return MakeRecord(RT::kVmStopped, {{"how", how}}); }
Record UserCreate(const std::string& entity, const CephCaps& caps) {
  return MakeRecord(RT::kUserCreate, {{"entity", entity}, {"caps", caps}});
}
Record UserCreated(const std::string& entity) { return MakeRecord(RT::kUserCreated, {{"entity", entity}}); }
Record UserReused(const std::string& entity) { return MakeRecord(RT::kUserReused, {{"entity", entity}}); }
Record UserCapsUpdate(const std::string& entity, const CephCaps& old_caps) {
  return MakeRecord(RT::kUserCapsUpdate, {{"entity", entity}, {"old_caps", old_caps}});
}
Record UserCapsUpdated(const std::string& entity, const CephCaps& old_caps) {
  return MakeRecord(RT::kUserCapsUpdated, {{"entity", entity}, {"old_caps", old_caps}});
}
Record UserRemoved(const std::string& entity) { return MakeRecord(RT::kUserRemoved, {{"entity", entity}}); }
Record UserCapsRestored(const std::string& entity) { return MakeRecord(RT::kUserCapsRestored, {{"entity", entity}}); }
Record SecretDefine(const std::string& usage) { return MakeRecord(RT::kSecretDefine, {{"usage", usage}}); }
Record SecretDefined(const std::string& uuid) { return MakeRecord(RT::kSecretDefined, {{"uuid", uuid}}); }
Record SecretReused(const std::string& uuid) { return MakeRecord(RT::kSecretReused, {{"uuid", uuid}}); }
Record SecretValueSet(const std::string& uuid) { return MakeRecord(RT::kSecretValueSet, {{"uuid", uuid}}); }
Record SecretRemoved(const std::string& uuid) { return MakeRecord(RT::kSecretRemoved, {{"uuid", uuid}}); }
Record DefinitionSaved(const std::string& path, const std::string& xml_digest) {
  return MakeRecord(RT::kDefinitionSaved, {{"path", path}, {"xml_digest", xml_digest}});
}
Record DefinitionRestored() { return MakeRecord(RT::kDefinitionRestored); }
Record AutostartDisable() { return MakeRecord(RT::kAutostartDisable); }
Record AutostartRestored() { return MakeRecord(RT::kAutostartRestored); }
Record ImageCreate(const std::string& target, const std::string& image) {
  return MakeRecord(RT::kImageCreate, {{"target", target}, {"image", image}});
}
Record ImageCreated(const std::string& target, const std::string& image) {
  return MakeRecord(RT::kImageCreated, {{"target", target}, {"image", image}});
}
Record ImageRemoved(const std::string& target, const std::string& image, const std::string& why) {
  Record r = MakeRecord(RT::kImageRemoved, {{"target", target}, {"image", image}});
  if (!why.empty()) r["why"] = why;
  return r;
}
Record ExportStart(const std::string& target, const std::string& socket, const std::string& read_path) {
  return MakeRecord(RT::kExportStart, {{"target", target}, {"socket", socket}, {"read_path", read_path}});
}
Record ExportStarted(const std::string& target, int64_t pid) {
  return MakeRecord(RT::kExportStarted, {{"target", target}, {"pid", pid}});
}
Record ExportStopped(const std::string& target) { return MakeRecord(RT::kExportStopped, {{"target", target}}); }
Record SourceSnapshot(const SourceSnapshotAt& at) {
  return MakeRecord(RT::kSourceSnapshot, {{"target", at.target},
                                          {"image", at.image},
                                          {"snap", at.snap},
                                          {"hosts", at.hosts},
                                          {"user", at.user},
                                          {"secret_uuid", at.secret_uuid},
                                          {"secret_usage", at.secret_usage},
                                          {"other_cluster", at.other_cluster}});
}
Record SourceSnapshotRemoved(const std::string& target, const std::string& why) {
  return MakeRecord(RT::kSourceSnapshotRemoved, {{"target", target}, {"why", why}});
}

Record CopyResume(const std::string& target, uint64_t done_bytes, bool recheck) {
  return MakeRecord(RT::kCopyResume, {{"target", target}, {"done_bytes", done_bytes}, {"recheck", recheck}});
}
Record DiskCopiedRecord(const DiskCopied& d) {
  Record r = MakeRecord(RT::kDiskCopied, {{"target", d.target}, {"image", d.image}, {"digest", d.digest},
                                          {"bytes_copied", d.bytes_copied}, {"bytes_zero", d.bytes_zero},
                                          {"seconds", d.seconds}, {"verified", d.verified}});
  if (d.how.empty())  // offline: the recheck of a resumed copy
    r.update({{"chunks_rechecked", d.chunks_rechecked}, {"chunks_rewritten", d.chunks_rewritten}});
  else
    r["how"] = d.how;
  return r;
}
Record CopyUntrusted(const std::string& reason) { return MakeRecord(RT::kCopyUntrusted, {{"reason", reason}}); }
Record Rechecked() { return MakeRecord(RT::kRechecked); }
Record SnapshotCreated(const std::string& target, const std::string& snap, bool at_pivot) {
  Record r = MakeRecord(RT::kSnapshotCreated, {{"target", target}, {"snap", snap}});
  if (at_pivot) r["at_pivot"] = true;
  return r;
}
Record SnapshotRemoved(const std::string& target, const std::string& why) {
  Record r = MakeRecord(RT::kSnapshotRemoved, {{"target", target}});
  if (!why.empty()) r["why"] = why;
  return r;
}
Record Switch(const std::string& xml_digest) { return MakeRecord(RT::kSwitch, {{"xml_digest", xml_digest}}); }
Record Switched(const std::string& xml_sha256, bool recovered) {
  Record r = MakeRecord(RT::kSwitched, {{"xml_sha256", xml_sha256}});
  if (recovered) r["recovered"] = true;
  return r;
}
Record VmStart() { return MakeRecord(RT::kVmStart); }
Record VmStarted(const std::string& on) {
  return on.empty() ? MakeRecord(RT::kVmStarted) : MakeRecord(RT::kVmStarted, {{"on", on}});
}
Record VmRestarted() { return MakeRecord(RT::kVmRestarted); }
Record Completed() { return MakeRecord(RT::kCompleted); }
Record AbortBegin(const std::string& reason) { return MakeRecord(RT::kAbortBegin, {{"reason", reason}}); }
Record Aborted(const std::string& reason) { return MakeRecord(RT::kAborted, {{"reason", reason}}); }
Record RollbackBegin(bool copy_back, bool discard_changes, bool live) {
  Record r = MakeRecord(RT::kRollbackBegin, {{"copy_back", copy_back}, {"discard_changes", discard_changes}});
  if (live) r["live"] = true;
  return r;
}
Record RollbackCancelled(const std::string& reason) {
  return reason.empty() ? MakeRecord(RT::kRollbackCancelled) : MakeRecord(RT::kRollbackCancelled, {{"reason", reason}});
}
Record CopyBack(const std::string& target) { return MakeRecord(RT::kCopyBack, {{"target", target}}); }
Record CopiedBack(const std::string& target, uint64_t bytes) {
  return MakeRecord(RT::kCopiedBack, {{"target", target}, {"bytes", bytes}});
}
Record CopyBackStopped(const std::string& reason) { return MakeRecord(RT::kCopyBackStopped, {{"reason", reason}}); }
Record RolledBack(bool live) {
  return live ? MakeRecord(RT::kRolledBack, {{"live", true}}) : MakeRecord(RT::kRolledBack);
}
Record Committed() { return MakeRecord(RT::kCommitted); }

Record BlockcopyStarted(RecordType t, const std::string& target, const std::string& dest, uint64_t bandwidth) {
  return MakeRecord(t, {{"target", target}, {"dest", dest}, {"bandwidth", bandwidth}});
}
Record BlockcopyCancelled(RecordType t, const std::string& target, const std::string& dest) {
  return MakeRecord(t, {{"target", target}, {"dest", dest}});
}
Record Pivot(RecordType t, const std::string& target, const std::string& dest, int64_t at_ms) {
  return MakeRecord(t, {{"target", target}, {"dest", dest}, {"at_ms", at_ms}});
}
Record Pivoted(RecordType t, const std::string& target, const std::string& dest, nlohmann::json info) {
  Record r = MakeRecord(t, {{"target", target}, {"dest", dest}});
  if (info.is_object()) r.update(info);
  return r;
}
Record VmPause(int64_t at_ms) { return MakeRecord(RT::kVmPause, {{"at_ms", at_ms}}); }
Record VmResumed(nlohmann::json info) { return MakeRecord(RT::kVmResumed, std::move(info)); }
Record Sparsified(const std::string& target, const std::string& image, uint64_t used_before, uint64_t used_after,
                  uint64_t sparse_size, double seconds) {
  return MakeRecord(RT::kSparsified, {{"target", target}, {"image", image}, {"used_before", used_before},
                                      {"used_after", used_after}, {"sparse_size", sparse_size}, {"seconds", seconds}});
}

}  // namespace rec
}  // namespace v2r
