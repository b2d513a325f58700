// An append-only, checksummed journal of side effects (one file per
// migration), in the spirit of leveldb's log: each record is one line
//
//     <8 hex digits: XXH32 of the JSON text> <JSON object>\n
//
// Append() writes the line and fdatasync()s before returning, so a record
// that Append() returned for is on disk. Open() reads every record; a torn or
// damaged LAST line (a crash while appending) is dropped and the file is
// truncated to the last good record; a damaged line before the last one means
// the file was corrupted, and Open() refuses with the line number.
// The format is documented in docs/journal.md.
//
// Not thread-safe: one Journal per process and file (callers hold the state
// dir lock).
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "base/status.h"

namespace v2r {

// A write to the state dir (journal, progress file, saved definition) that
// failed. Full or failing local storage (ENOSPC, EDQUOT, EIO, EROFS) is an
// environment fault: kInterrupted, resumable once there is room, with a hint
// that names the directory. Anything else is kFailed.
Status StateWriteError(const std::string& what, const std::string& path, int err);

class Journal {
 public:
  // Creates the file (0600) when missing.
  static Result<std::unique_ptr<Journal>> Open(const std::string& path);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<nlohmann::json>& records() const { return records_; }
  // True when Open() dropped a torn last line.
  bool repaired_tail() const { return repaired_tail_; }

  // Adds "seq" and "time" (UTC, ISO 8601) and makes the record durable.
  Status Append(nlohmann::json record);

  // Reads the records without changing the file (a torn last line is
  // skipped, not cut off): for read-only commands.
  static Result<std::vector<nlohmann::json>> ReadOnly(const std::string& path);

  // Encodes one record as a journal line (with the newline); exposed for tests.
  static std::string EncodeLine(const nlohmann::json& record);

 private:
  Journal() = default;
  std::string path_;
  int fd_ = -1;
  std::vector<nlohmann::json> records_;
  bool repaired_tail_ = false;
  off_t good_end_ = 0;   // bytes of the file that hold acknowledged records
  bool broken_ = false;  // a failed append could not be cut off again
};

// Current UTC time as "2026-11-25T21:43:11Z".
std::string UtcNow();

}  // namespace v2r
