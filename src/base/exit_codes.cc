#include "base/exit_codes.h"

namespace v2r {

int ExitCodeFor(const Status& status) {
  switch (status.kind()) {
    case Kind::kOk: return kExitOk;
    case Kind::kUsage: return kExitUsage;
    case Kind::kRefused: return kExitRefused;
    case Kind::kFailed: return kExitFailed;
    case Kind::kMismatch: return kExitMismatch;
    case Kind::kInterrupted: return kExitInterrupted;
    case Kind::kSourceChanged: return kExitSourceChanged;
    case Kind::kInternal: return kExitInternal;
  }
  return kExitInternal;
}

const char* ExitCodeName(int code) {
  switch (code) {
    case kExitOk: return "ok";
    case kExitInternal: return "internal error";
    case kExitUsage: return "usage error";
    case kExitRefused: return "refused, nothing changed";
    case kExitFailed: return "failed after changes";
    case kExitMismatch: return "verification mismatch";
    case kExitInterrupted: return "interrupted, rerun to resume";
    case kExitSourceChanged: return "the VM ran during the copy, nothing switched";
  }
  return "unknown";
}

}  // namespace v2r
