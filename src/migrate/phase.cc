#include "migrate/phase.h"

namespace v2r {

namespace {

struct PhaseText {
  const char* id;
  const char* title;
};

// In the order of the enum.
constexpr PhaseText kPhases[] = {
    {"stop", "stop the VM"},
    {"guard", "watch the VM, autostart off while copying"},
    {"user", "create the cephx user"},
    {"secret", "define the libvirt secret"},
    {"save-definition", "save the definition"},
    {"copy", "copy the disks"},
    {"sparsify", "sparsify the images (zeros the copy wrote)"},
    {"snapshot", "snapshot the images (the rollback point)"},
    {"pivot", "pivot onto RBD (with the rollback snapshots)"},
    {"switch", "switch the definition to RBD"},
    {"start", "start the VM on RBD and check it runs there"},
    {"check", "check the VM runs on RBD"},
    {"verify", "verify the images"},
    {"copy-back", "copy the changes back to the original disks and verify"},
    {"restore", "restore the saved definition"},
    {"clean-up", "remove what the migration created"},
    {"undo", "undo what this run changed"},
    {"remove-snapshots", "remove the rollback snapshots"},
};
static_assert(sizeof(kPhases) / sizeof(kPhases[0]) == static_cast<int>(Phase::kRemoveSnapshots) + 1,
              "one text per phase");

}  // namespace

const char* PhaseId(Phase p) { return kPhases[static_cast<int>(p)].id; }
const char* PhaseTitle(Phase p) { return kPhases[static_cast<int>(p)].title; }

}  // namespace v2r
