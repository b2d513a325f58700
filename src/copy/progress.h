// Progress counters shared between the engine (writers) and a renderer
// (reader). The engine only adds to atomics; rendering samples them. Bytes are
// counted when completed, never when issued.
#pragma once

#include <atomic>
#include <cstdint>

namespace v2r {

struct ProgressCounters {
  std::atomic<uint64_t> total{0};    // bytes to process (disk sizes)
  std::atomic<uint64_t> done{0};     // bytes processed: written and acked, or skipped as zero
  std::atomic<uint64_t> written{0};  // data bytes written and acked
  std::atomic<uint64_t> zero{0};     // bytes skipped (or zeroed) as zero
};

}  // namespace v2r
