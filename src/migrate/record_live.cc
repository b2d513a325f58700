// The fold of live mode's journal records (docs/live-migration.md).
#include "base/json_field.h"
#include "migrate/record_fold.h"

namespace v2r {

namespace {

void FoldVmPause(const Record& r, MigrationState& s, DiskRecord*) {
  s.paused = true;
  s.pause_begin_ms = JsonField<int64_t>(r, "at_ms", 0);
  s.pivot_begin_ms = s.pause_begin_ms;  // the pivots of this pause start with it
}

void FoldVmResumed(const Record& r, MigrationState& s, DiskRecord*) {
  s.paused = false;
  s.paused_ms = JsonField<double>(r, "paused_ms", s.paused_ms);
  s.pause_end_ms = JsonField<int64_t>(r, "at_ms", 0);
}

void FoldPivot(const Record& r, MigrationState& s, DiskRecord* d) {
  d->live.pivot_intent = true;
  if (s.pivot_begin_ms == 0) s.pivot_begin_ms = JsonField<int64_t>(r, "at_ms", 0);
}

void FoldPivoted(const Record& r, MigrationState& s, DiskRecord* d) {
  d->live.pivoted = true;
  d->live.copy_started = false;
  d->live.pivot_ms = JsonField<double>(r, "ms", 0);
  s.pivot_end_ms = JsonField<int64_t>(r, "at_ms", s.pivot_end_ms);
}

void FoldSparsified(const Record& r, MigrationState&, DiskRecord* d) {
  d->live.sparsified = true;
  d->live.used_before_sparsify = JsonField<uint64_t>(r, "used_before", 0);
  d->live.used_after_sparsify = JsonField<uint64_t>(r, "used_after", 0);
}

void FoldCopyStarted(const Record&, MigrationState&, DiskRecord* d) { d->live.copy_started = true; }
void FoldCopyCancelled(const Record&, MigrationState&, DiskRecord* d) { d->live.copy_started = false; }
void FoldBackStarted(const Record&, MigrationState&, DiskRecord* d) { d->live.back_started = true; }
void FoldPivotBack(const Record&, MigrationState&, DiskRecord* d) { d->live.back_pivot_intent = true; }
void FoldPivotedBack(const Record&, MigrationState&, DiskRecord* d) { d->live.pivoted_back = true; }

}  // namespace

const std::map<RecordType, FoldEntry>& LiveFolds() {
  using RT = RecordType;
  static const std::map<RecordType, FoldEntry> table = {
      {RT::kVmPause, {FoldVmPause, false}},
      {RT::kVmResumed, {FoldVmResumed, false}},
      {RT::kPivot, {FoldPivot, true}},
      {RT::kPivoted, {FoldPivoted, true}},
      {RT::kBlockcopyStart, {FoldCopyStarted, true}},
      {RT::kBlockcopyAdopted, {FoldCopyStarted, true}},
      {RT::kBlockcopyCancelled, {FoldCopyCancelled, true}},
      {RT::kSparsified, {FoldSparsified, true}},
      {RT::kBlockcopyBackStart, {FoldBackStarted, true}},
      {RT::kBlockcopyBackAdopted, {FoldBackStarted, true}},
      // Cancelled back copy: the original holds a partial copy; rollback --live
      // copies it again in full, so nothing is cleared.
      {RT::kBlockcopyBackCancelled, {nullptr, true}},
      {RT::kPivotBack, {FoldPivotBack, true}},
      {RT::kPivotedBack, {FoldPivotedBack, true}},
  };
  return table;
}

}  // namespace v2r
