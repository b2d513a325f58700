// Durable copy progress of one disk: which chunks are on the image and
// flushed, with their block hashes, so a rerun copies only the rest.
//
// The file (STATE/domains/<uuid>/copy-<target>.progress, 0600) uses the
// journal's line format (journal/journal.h). Record 1 is the header:
//   {"type":"header","image":..,"source":..,"size":..,"chunk_size":..,"fingerprint":..}
// then one record per flush:
//   {"type":"durable","chunks":[[CHUNK,[[BLOCK,LOW,HIGH],...]],...]}
// A torn last record is dropped on open (it was never acknowledged).
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "copy/checksum.h"
#include "journal/journal.h"

namespace v2r {

struct CopyProgressHeader {
  std::string image, source, fingerprint;
  uint64_t size = 0, chunk_size = 0;
  bool operator==(const CopyProgressHeader&) const = default;
};

class CopyProgressFile {
 public:
  // Starts a new file (replacing any old one) with this header.
  static Result<std::unique_ptr<CopyProgressFile>> Create(const std::string& path, const CopyProgressHeader& h);
  // Opens an existing file; refused when missing or unreadable.
  static Result<std::unique_ptr<CopyProgressFile>> Load(const std::string& path);

  const CopyProgressHeader& header() const { return header_; }
  // Chunks recorded as durable, and their block hashes.
  const std::vector<bool>& done() const { return done_; }
  const BlockHashes& hashes() const { return hashes_; }
  uint64_t done_bytes() const;

  // Records chunks as durable (call only after the sink was flushed).
  Status Record(const std::vector<uint64_t>& chunks, const BlockHashes& hashes);

 private:
  CopyProgressFile(std::unique_ptr<Journal> j, CopyProgressHeader h);
  void Apply(const nlohmann::json& record);
  std::unique_ptr<Journal> journal_;
  CopyProgressHeader header_;
  std::vector<bool> done_;
  BlockHashes hashes_;
};

}  // namespace v2r
