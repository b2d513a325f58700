// Every record type of the migration journal (docs/journal.md), in one place:
// the names as written in the "event" field, and one builder per type, used
// by every appender so that no call site spells a record type. The fold of
// each type into MigrationState is the table in record.cc.
//
// Compatibility: a journal written by release 0.1.0 has no version record
// (format 1) and folds the same. A new journal starts with a `journal` record
// (kJournalFormat, the virt2rbd version). A record type not in this list is
// refused by the fold (a journal written by a newer virt2rbd), never skipped.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "migrate/caps.h"

namespace v2r {

// The journal format this version writes. 1: release 0.1.0 (no version
// record); 2: a `journal` record first, the same records after it.
// 3: disk records may carry what an older reader would misread if it skipped
// it: a slice of the source (slice_offset/size), a pool volume, an image-file
// original that copy-back writes through qemu, an RBD source. Format 2
// readers refuse such a journal instead of guessing.
inline constexpr int kJournalFormat = 3;

// X(enumerator, name): the record types, in the order a migration writes them,
// one a line.
#define V2R_RECORD_TYPES(X)                              \
  X(kJournal, "journal")                                 \
  X(kBegin, "begin")                                     \
  X(kVmStop, "vm-stop")                                  \
  X(kVmStopped, "vm-stopped")                            \
  X(kUserCreate, "user-create")                          \
  X(kUserCreated, "user-created")                        \
  X(kUserReused, "user-reused")                          \
  X(kUserCapsUpdate, "user-caps-update")                 \
  X(kUserCapsUpdated, "user-caps-updated")               \
  X(kSecretDefine, "secret-define")                      \
  X(kSecretDefined, "secret-defined")                    \
  X(kSecretReused, "secret-reused")                      \
  X(kSecretValueSet, "secret-value-set")                 \
  X(kDefinitionSaved, "definition-saved")                \
  X(kAutostartDisable, "autostart-disable")              \
  X(kAutostartRestored, "autostart-restored")            \
  X(kImageCreate, "image-create")                        \
  X(kImageCreated, "image-created")                      \
  X(kCopyResume, "copy-resume")                          \
  X(kExportStart, "export-start")                        \
  X(kExportStarted, "export-started")                    \
  X(kExportStopped, "export-stopped")                    \
  X(kSourceSnapshot, "source-snapshot")                  \
  X(kSourceSnapshotRemoved, "source-snapshot-removed")   \
  X(kDiskCopied, "disk-copied")                          \
  X(kCopyUntrusted, "copy-untrusted")                    \
  X(kRechecked, "rechecked")                             \
  X(kSnapshotCreated, "snapshot-created")                \
  X(kSwitch, "switch")                                   \
  X(kSwitched, "switched")                               \
  X(kVmStart, "vm-start")                                \
  X(kVmStarted, "vm-started")                            \
  X(kCompleted, "completed")                             \
  X(kAbortBegin, "abort-begin")                          \
  X(kImageRemoved, "image-removed")                      \
  X(kSecretRemoved, "secret-removed")                    \
  X(kUserRemoved, "user-removed")                        \
  X(kUserCapsRestored, "user-caps-restored")             \
  X(kDefinitionRestored, "definition-restored")          \
  X(kVmRestarted, "vm-restarted")                        \
  X(kAborted, "aborted")                                 \
  X(kRollbackBegin, "rollback-begin")                    \
  X(kRollbackCancelled, "rollback-cancelled")            \
  X(kCopyBack, "copy-back")                              \
  X(kCopiedBack, "copied-back")                          \
  X(kCopyBackStopped, "copy-back-stopped")               \
  X(kRolledBack, "rolled-back")                          \
  X(kSnapshotRemoved, "snapshot-removed")                \
  X(kCommitted, "committed")                             \
  /* live mode (docs/live-migration.md) */               \
  X(kBlockcopyStart, "blockcopy-start")                  \
  X(kBlockcopyAdopted, "blockcopy-adopted")              \
  X(kBlockcopyCancelled, "blockcopy-cancelled")          \
  X(kPivot, "pivot")                                     \
  X(kPivoted, "pivoted")                                 \
  X(kVmPause, "vm-pause")                                \
  X(kVmResumed, "vm-resumed")                            \
  X(kSparsified, "sparsified")                           \
  X(kBlockcopyBackStart, "blockcopy-back-start")         \
  X(kBlockcopyBackAdopted, "blockcopy-back-adopted")     \
  X(kBlockcopyBackCancelled, "blockcopy-back-cancelled") \
  X(kPivotBack, "pivot-back")                            \
  X(kPivotedBack, "pivoted-back")

enum class RecordType {
#define V2R_RECORD_ENUM(e, name) e,
  V2R_RECORD_TYPES(V2R_RECORD_ENUM)
#undef V2R_RECORD_ENUM
};

// Every type, in declaration order (for tests and the fold table's check).
const std::vector<RecordType>& AllRecordTypes();
const char* RecordTypeName(RecordType t);
std::optional<RecordType> ParseRecordType(std::string_view name);

using Record = nlohmann::json;

// A record of type `t` with `fields` (an object; informational fields the
// fold does not read go here too). Journal::Append adds seq and time.
Record MakeRecord(RecordType t, nlohmann::json fields = nlohmann::json::object());

// Builders, one per record type (the fields the fold reads are parameters).
namespace rec {

Record JournalVersion();  // {"format": kJournalFormat, "virt2rbd": V2R_VERSION}
// begin: the fields are made by BeginRecord (steps.cc) from the plan.
Record Begin(nlohmann::json fields);
Record VmStop(bool shutdown, bool force_off);
Record VmStopped(const std::string& how);
Record UserCreate(const std::string& entity, const CephCaps& caps);
Record UserCreated(const std::string& entity);
Record UserReused(const std::string& entity);
Record UserCapsUpdate(const std::string& entity, const CephCaps& old_caps);  // before the change
Record UserCapsUpdated(const std::string& entity, const CephCaps& old_caps);
Record UserRemoved(const std::string& entity);
Record UserCapsRestored(const std::string& entity);
Record SecretDefine(const std::string& usage);
Record SecretDefined(const std::string& uuid);
Record SecretReused(const std::string& uuid);
Record SecretValueSet(const std::string& uuid);
Record SecretRemoved(const std::string& uuid);
Record DefinitionSaved(const std::string& path, const std::string& xml_digest);
Record DefinitionRestored();
Record AutostartDisable();
Record AutostartRestored();
Record ImageCreate(const std::string& target, const std::string& image);
Record ImageCreated(const std::string& target, const std::string& image);
// why: empty when an abort or rollback removes it.
Record ImageRemoved(const std::string& target, const std::string& image, const std::string& why = {});
Record CopyResume(const std::string& target, uint64_t done_bytes, bool recheck);
// A read-only qemu-nbd export of a disk's source (an image file read through
// qemu): asked (its socket, in the domain's state dir), started (its pid),
// stopped. A rerun stops one a killed run left (StopStaleExport).
Record ExportStart(const std::string& target, const std::string& socket, const std::string& read_path);
Record ExportStarted(const std::string& target, int64_t pid);
Record ExportStopped(const std::string& target);
// The snapshot of an RBD source image virt2rbd takes to copy it from (a
// consistent, unchanging view): before it is created (where: the image
// "pool/image", its snapshot, and how to reach its cluster again, the key
// left out: monitors, user, the libvirt secret's uuid or usage) / once it is
// removed (after the copy, or by an abort).
struct SourceSnapshotAt {
  std::string target, image, snap;
  std::vector<std::string> hosts;  // "host:port" as the disk's <host> elements
  std::string user, secret_uuid, secret_usage;
  bool other_cluster = true;
};
Record SourceSnapshot(const SourceSnapshotAt& at);
Record SourceSnapshotRemoved(const std::string& target, const std::string& why);

struct DiskCopied {
  std::string target, image, digest;
  uint64_t bytes_copied = 0, bytes_zero = 0;
  double seconds = 0;
  bool verified = false;
  uint64_t chunks_rechecked = 0, chunks_rewritten = 0;
  std::string how;  // "live block copy"; empty offline
};
Record DiskCopiedRecord(const DiskCopied& d);
Record CopyUntrusted(const std::string& reason);
Record Rechecked();
// at_pivot: taken in the live pivot's pause (exact).
Record SnapshotCreated(const std::string& target, const std::string& snap, bool at_pivot = false);
Record SnapshotRemoved(const std::string& target, const std::string& why = {});
Record Switch(const std::string& xml_digest);
Record Switched(const std::string& xml_sha256, bool recovered = false);
Record VmStart();
Record VmStarted(const std::string& on = {});
Record VmRestarted();
Record Completed();
Record AbortBegin(const std::string& reason);
Record Aborted(const std::string& reason);
Record RollbackBegin(bool copy_back, bool discard_changes, bool live = false);
Record RollbackCancelled(const std::string& reason = {});
Record CopyBack(const std::string& target);
Record CopiedBack(const std::string& target, uint64_t bytes);
Record CopyBackStopped(const std::string& reason);
Record RolledBack(bool live = false);
Record Committed();

// Live mode. The block copy records come in two directions (MirrorEvents):
// t is one of kBlockcopy{,Back}{Start,Adopted}.
Record BlockcopyStarted(RecordType t, const std::string& target, const std::string& dest, uint64_t bandwidth);
Record BlockcopyCancelled(RecordType t, const std::string& target, const std::string& dest);
Record Pivot(RecordType t, const std::string& target, const std::string& dest, int64_t at_ms);
// info: recovered, ms (the forward pivot's duration), at_ms.
Record Pivoted(RecordType t, const std::string& target, const std::string& dest, nlohmann::json info);
Record VmPause(int64_t at_ms);
// info: paused_ms, at_ms, recovered and the pause's breakdown.
Record VmResumed(nlohmann::json info);
Record Sparsified(const std::string& target, const std::string& image, uint64_t used_before, uint64_t used_after,
                  uint64_t sparse_size, double seconds);

}  // namespace rec
}  // namespace v2r
