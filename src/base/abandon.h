// When writes in flight had to be abandoned (a stalled cluster), librbd still
// owns them: handles must not be closed (closing waits for them, for ever).
// Code that abandons marks it here and leaks its handles; main() then ends
// the process with _Exit instead of running destructors.
#pragma once

#include <atomic>

namespace v2r {

inline std::atomic<bool>& AbandonedFlag() {
  static std::atomic<bool> flag{false};
  return flag;
}
inline void MarkAbandoned() { AbandonedFlag().store(true); }
inline bool Abandoned() { return AbandonedFlag().load(); }

}  // namespace v2r
