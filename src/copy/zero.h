// Zero detection and the one zero policy of the engine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "copy/endpoint.h"

namespace v2r {

// True when all `len` bytes are zero.
bool IsZero(const void* buf, size_t len);

// Splits a buffer that holds [base, base+len) into runs of data and zeros.
// Zero detection works on `granularity`-sized blocks aligned to absolute
// offsets (so a split never depends on where a chunk starts); a zero block
// shorter than `granularity` at either edge still counts when it ends at the
// buffer end. Adjacent runs of the same kind are merged. The result covers
// the buffer exactly, in order.
std::vector<Extent> SplitZeroRuns(const void* buf, uint64_t base, size_t len,
                                  size_t granularity);

// What to do with a range that reads as zero.
//  - a fresh image reads as zeros already: skip it;
//  - a sink that keeps no bytes (SinkCapabilities::fresh): skip it;
//  - an image that may hold older data (a resumed copy): write zeros.
enum class ZeroAction { kSkip, kWriteZeroes };
inline ZeroAction ZeroPolicy(bool target_is_fresh, const SinkCapabilities& caps = {}) {
  return target_is_fresh || caps.fresh ? ZeroAction::kSkip : ZeroAction::kWriteZeroes;
}

}  // namespace v2r
