// When writes in flight had to be abandoned (a stalled cluster), librbd still
// owns them: handles must not be closed (closing waits for them, for ever).
// Code that abandons marks it on the run's Abandonment (RunContext, or the
// copy command's request) and leaks its handles; whoever owns the
// Abandonment (main()) then ends the process with _Exit instead of running
// destructors. One per process in the CLI; a test or a program running many
// migrations gives each its own or shares one.
#pragma once

#include <atomic>

namespace v2r {

class Abandonment {
 public:
  void Mark() { marked_.store(true); }
  bool marked() const { return marked_.load(); }

 private:
  std::atomic<bool> marked_{false};
};

}  // namespace v2r
