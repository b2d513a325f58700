#include "copy/hash_sink.h"

#include <fmt/format.h>

#include <algorithm>

#include "copy/engine.h"

namespace v2r {

Result<BlockHashes> HashDisk(Source& src, const HashOptions& opts, ProgressCounters* progress) {
  HashSink sink(fmt::format("hashes of {}", src.name()), src.size());
  CopyOptions copts;
  copts.readers = std::max(1, opts.threads);
  copts.target_fresh = true;
  copts.cancel = opts.cancel;
  copts.readable = opts.durable;
  copts.map_window = kHashMapWindow;
  copts.on_progress = opts.on_progress;
  copts.stall_warn_s = 0;  // nothing is in flight: every write completes at once
  Result<CopyResult> copied = CopyDisk(src, sink, std::move(copts), progress);
  if (!copied.ok()) {
    if (copied.status().kind() == Kind::kInterrupted && opts.cancel && opts.cancel->load())
      return Status::Interrupted(fmt::format("hashing {} interrupted", src.name()));
    return copied.status();
  }
  return std::move(copied->hashes);
}

}  // namespace v2r
