// The fold table's parts (record.cc, record_live.cc): internal to them and
// the tests.
#pragma once

#include <map>

#include "migrate/record.h"

namespace v2r {

// Folds one record into the state; d: the record's disk when per_disk.
using FoldFn = void (*)(const Record& r, MigrationState& s, DiskRecord* d);
struct FoldEntry {
  FoldFn fold;    // nullptr: the record changes nothing the state keeps
  bool per_disk;  // folded only when its "target" names a disk of the migration
};

// Live mode's record types (record_live.cc).
const std::map<RecordType, FoldEntry>& LiveFolds();
// True when the fold table has an entry for t (every RecordType must).
bool HasFold(RecordType t);

}  // namespace v2r
