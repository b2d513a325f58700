// Fault injection for tests: named points where a test can make virt2rbd
// fail or die, set through the environment variable V2R_FAULT, a comma
// separated list of
//
//   NAME=fail          the point returns a Failed status ("injected failure at NAME")
//   NAME=crash         the process kills itself with SIGKILL at the point
//   NAME=sleep:S       the point waits S seconds (a window for a test to act in)
//   read-error:TARGET@OFFSET   reading disk TARGET's source fails at byte OFFSET (EIO)
//
// With V2R_FAULT_DOMAIN=NAME as well, the faults apply only to the run of
// that domain (SetFaultScope, set by migrate): a fleet test fails one VM of
// many. Unset (the normal case) every point is a no-op. Points are listed in
// docs/journal.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/status.h"

namespace v2r {

Status FaultPoint(const std::string& name);
// The domain this process works on (V2R_FAULT_DOMAIN is compared with it).
void SetFaultScope(const std::string& domain);
// The OFFSET of "read-error:TARGET@OFFSET" when set.
std::optional<uint64_t> InjectedReadError(const std::string& target);

}  // namespace v2r
