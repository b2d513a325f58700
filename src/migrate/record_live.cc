// The journal records of live mode (docs/live-migration.md), folded.
#include "migrate/record.h"

#include "base/json_field.h"

namespace v2r {

void FoldLiveRecord(const nlohmann::json& r, const std::string& ev, MigrationState* s) {
  if (ev == "begin") {
    s->live = JsonField<std::string>(r, "mode", "") == "live";
    return;
  }
  if (ev == "vm-pause") {
    s->paused = true;
    s->pause_begin_ms = JsonField<int64_t>(r, "at_ms", 0);
    s->pivot_begin_ms = s->pause_begin_ms;  // the pivots of this pause start with it
    return;
  }
  if (ev == "vm-resumed") {
    s->paused = false;
    s->paused_ms = JsonField<double>(r, "paused_ms", s->paused_ms);
    s->pause_end_ms = JsonField<int64_t>(r, "at_ms", 0);
    return;
  }
  DiskRecord* d = s->Disk(JsonField<std::string>(r, "target", ""));
  if (!d) return;
  if (ev == "pivot") {
    d->live.pivot_intent = true;
    if (s->pivot_begin_ms == 0) s->pivot_begin_ms = JsonField<int64_t>(r, "at_ms", 0);
  } else if (ev == "blockcopy-start" || ev == "blockcopy-adopted") {
    d->live.copy_started = true;
  } else if (ev == "blockcopy-cancelled") {
    d->live.copy_started = false;
  } else if (ev == "pivoted") {
    d->live.pivoted = true;
    d->live.copy_started = false;
    d->live.pivot_ms = JsonField<double>(r, "ms", 0);
    s->pivot_end_ms = JsonField<int64_t>(r, "at_ms", s->pivot_end_ms);
  } else if (ev == "snapshot-created") {
    d->live.snapshot_at_pivot = JsonField<bool>(r, "at_pivot", false);
  } else if (ev == "snapshot-removed") {
    d->live.snapshot_at_pivot = false;
  } else if (ev == "sparsified") {
    d->live.sparsified = true;
    d->live.used_before_sparsify = JsonField<uint64_t>(r, "used_before", 0);
    d->live.used_after_sparsify = JsonField<uint64_t>(r, "used_after", 0);
  } else if (ev == "image-removed") {
    d->live.copy_started = false;
    d->live.snapshot_at_pivot = false;
    d->live.sparsified = false;
  } else if (ev == "blockcopy-back-start" || ev == "blockcopy-back-adopted") {
    d->live.back_started = true;
  } else if (ev == "pivot-back") {
    d->live.back_pivot_intent = true;
  } else if (ev == "pivoted-back") {
    d->live.pivoted_back = true;
  }
}

}  // namespace v2r
