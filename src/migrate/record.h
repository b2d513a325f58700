// The migration's state, folded from its journal records.
//
// Each side effect has a record written before it is made ("…-intent" where a
// crash could leave it half done) and one after. Folding the records in
// order gives what was done, so a rerun skips it and rollback or abort undoes
// exactly what virt2rbd created. Record types and their builders:
// migrate/records.h; the fold of each: the table in record.cc.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "journal/journal.h"
#include "migrate/caps.h"
#include "migrate/plan.h"
#include "migrate/records.h"

namespace v2r {

constexpr const char* kSwitchSnapshot = "virt2rbd-switch";

// Live mode, per disk (docs/live-migration.md): the block copy and pivot,
// and those of `rollback --live`.
struct LiveDiskRecord {
  bool copy_started = false;       // blockcopy-start/-adopted: a job may copy into the image
  bool pivot_intent = false;       // pivot written, pivoted maybe not
  bool pivoted = false;            // the running VM uses the image
  double pivot_ms = 0;             // how long the pivot call took
  bool snapshot_at_pivot = false;  // the rollback snapshot was taken in the pivot's pause: exact
  bool sparsified = false;
  uint64_t used_before_sparsify = 0, used_after_sparsify = 0;  // bytes, whole objects (rbd du)
  bool back_started = false;       // rollback --live copied onto the original: it no longer holds the old data
  bool back_pivot_intent = false;
  bool pivoted_back = false;       // the running VM uses its original disk again
};

struct DiskRecord {
  std::string target, source, image;
  std::string format = "raw";  // of the source, as libvirt's definition gave it
  std::string volume;  // a pool volume disk: "POOL/VOLUME" (source and format: what it resolved to)
  // <slice type='storage'>: only SLICE_SIZE bytes at SLICE_OFFSET of the
  // source were copied (slice_size 0: the whole source).
  uint64_t slice_offset = 0, slice_size = 0;
  uint64_t size = 0;
  bool create_intent = false;  // image-create written, image-created maybe not
  bool created = false;        // this migration created the image
  bool copied = false;
  std::string digest;
  uint64_t bytes_copied = 0, bytes_zero = 0;
  double seconds = 0;
  bool verified = false;
  uint64_t chunks_rechecked = 0, chunks_rewritten = 0;  // of the last copy that rechecked a resumed disk
  bool snapshot = false;
  bool removed = false;
  uint64_t copied_back = 0;
  // The qemu-nbd export reading the source (export-start without
  // export-stopped): a killed run's may still run.
  std::string export_socket;
  int64_t export_pid = 0;
  // An RBD source: "rbd" (the begin record's protocol; empty for local
  // disks), and the snapshot of it virt2rbd took (source-snapshot without
  // source-snapshot-removed: still there).
  std::string protocol;
  bool source_snapshot = false;
  nlohmann::json source_snapshot_at;  // the source-snapshot record
  LiveDiskRecord live;
};

struct MigrationState {
  int journal_format = 1;  // of the `journal` record; 1: none (release 0.1.0)
  std::string written_by;  // the virt2rbd version that started the journal (format 2 on)
  bool begun = false;
  bool live = false;                      // begun with --live
  int64_t pivot_begin_ms = 0, pivot_end_ms = 0;  // epoch ms: the first pivot asked, the last one done
  bool paused = false;                    // vm-pause without vm-resumed: we may have left the VM paused
  double paused_ms = 0;                   // how long the VM was paused for the pivot
  int64_t pause_begin_ms = 0, pause_end_ms = 0;  // epoch ms: vm-pause, vm-resumed
  std::string domain, uuid, uri, pool, user_entity, secret_usage, cache;
  std::string began_at;
  RunState original_state = RunState::kShutoff;
  bool start_after = false;
  std::vector<DiskRecord> disks;
  std::vector<std::string> hosts;
  bool vm_stopped = false;
  bool user_create_intent = false;
  bool user_created = false;
  bool user_caps_updated = false;
  CephCaps user_old_caps;
  bool user_removed = false;
  std::string secret_uuid;
  bool secret_define_intent = false;
  bool secret_created = false;
  bool secret_value_set = false;
  bool secret_removed = false;
  bool definition_saved = false;
  // The source guard (docs/journal.md): the VM ran on its original disks
  // while they were copied (or copied back); the copy is not trusted until a
  // rerun rechecked every disk against its source ("rechecked").
  bool untrusted = false;
  std::string untrusted_reason;
  bool autostart_off = false;  // virt2rbd switched the domain's autostart off and has not restored it
  bool switch_intent = false;
  bool switched = false;
  std::string switched_at;
  std::string switched_xml_sha256;  // of the inactive XML as libvirt returned it after define
  bool started = false;
  bool completed = false;
  std::string completed_at;
  bool aborted = false;
  std::string abort_reason;
  bool rollback_begun = false;
  bool rolled_back = false;
  std::string rolled_back_at;
  bool committed = false;
  std::string committed_at;

  DiskRecord* Disk(const std::string& target);
  // "unfinished", "migrated", "committed", "rolled back", "aborted", "none".
  std::string Phase() const;
  bool Finished() const { return aborted || rolled_back; }  // a new migration may begin
};

// Folds the records in order. A record whose type this version does not
// know, one without a type, or a journal of a newer format is refused
// (kRefused, naming the record): a newer virt2rbd wrote it, and skipping what
// it did could undo too little.
Result<MigrationState> FoldJournal(const std::vector<Record>& records);
// Folds one record (index: its position, for the error) into *s.
Status FoldRecord(const Record& record, size_t index, MigrationState* s);

// Appends a record to a migration journal; a new (empty) journal gets the
// version record (rec::JournalVersion) first.
Status AppendRecord(Journal& journal, Record record);

}  // namespace v2r
