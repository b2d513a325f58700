// The one place where outcomes become process exit codes.
// The table is documented in docs/exit-codes.md; keep both in step.
#pragma once

#include "base/status.h"

namespace v2r {

enum ExitCode : int {
  kExitOk = 0,
  kExitInternal = 1,     // a bug: please report
  kExitUsage = 2,        // bad command line; nothing looked at or changed
  kExitRefused = 3,      // refused before changing anything
  kExitFailed = 4,       // failed after changes; the message says what is left
  kExitMismatch = 5,     // verification found data that differs
  kExitSourceChanged = 6, // the VM ran during the copy: nothing switched; rerun rechecks and converges
  kExitInterrupted = 75, // interrupted (signal, stall): rerun to resume (EX_TEMPFAIL)
};

int ExitCodeFor(const Status& status);
const char* ExitCodeName(int code);

}  // namespace v2r
