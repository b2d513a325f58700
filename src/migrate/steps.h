// The steps migrate (offline) and live migration share. Each journals its
// side effect before making it and is a no-op when the journal says it is
// done, so a rerun converges.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "copy/hash_sink.h"
#include "migrate/disk_source.h"
#include "migrate/options.h"
#include "migrate/plan.h"
#include "migrate/record.h"
#include "migrate/runner.h"

namespace v2r {

// Images every disk of the domain could get (to check which exist).
std::vector<std::string> CandidateImageNames(const MigrateOptions& opts, const DomainInfo& info);
std::string XmlDigest(const std::string& xml);
// Facts → plan; for a resumed migration the VM's state is the journalled one
// and images this migration created are not "taken".
Result<Plan> PlanWith(Session& s, const MigrateOptions& opts, const MigrationState* resumed);
// Every refusal of the plan, as one Refused status.
Status RefusePlan(const Plan& plan);
// The "begin" record of a migration.
nlohmann::json BeginRecord(Runner& r, const Plan& plan, const MigrateOptions& opts, bool live);

// A disk's source opened for reading as libvirt's definition says (migrate/
// disk_source.h), for an offline copy and for the live verification alike:
// directly, or through a read-only qemu-nbd export of this run's, journalled
// (export-start, then export-started with its pid); an export a killed run
// left (REC's export-start without export-stopped) is stopped first.
Result<OpenedSource> OpenJournalledSource(Runner& r, const std::string& uuid, const DiskInfo& disk,
                                          const std::string& read_path, const DiskRecord* rec, int connections);
// Closes SOURCE; when it was EXPORTED the export stops with it, journalled
// (export-stopped).
Status CloseJournalledSource(Runner& r, const std::string& target, std::unique_ptr<Source>* source, bool exported);
// An image file opened for writing (OpenImageSink) through a writable export,
// journalled as above; a stale export stopped first.
Result<OpenedSink> OpenJournalledSink(Runner& r, const std::string& uuid, const DiskInfo& disk, const DiskRecord* rec,
                                      int connections, uint64_t object_size);
// The hashes of DISK's source, read as OpenJournalledSource opens it (the
// journal's record of the disk for a stale export), then closed; a Mismatch
// when its fingerprint changed meanwhile (a write behind the reader).
Result<BlockHashes> HashJournalledSource(Runner& r, const std::string& uuid, const DiskInfo& disk,
                                         const std::string& read_path, int connections, const HashOptions& opts,
                                         ProgressCounters* progress);
Status CloseJournalledSink(Runner& r, const std::string& target, std::unique_ptr<Sink>* sink);

// What the steps are called in the operator's output and the event stream.
std::string UserStepTitle(const Plan& plan);
std::string SecretStepTitle(const Plan& plan);
std::string CopyStepTitle(const Plan& plan, bool verify);

Status EnsureUser(Runner& r, const Plan& plan);
Status EnsureSecret(Runner& r, const Plan& plan);
Status SaveDefinition(Runner& r, const Plan& plan);
Status SnapshotImages(Runner& r, const Plan& plan);
// Rewrites the saved definition's disks to RBD (with the secret's real uuid)
// and defines it. `guard` (offline mode: the source guard) is asked right
// before the define and right after it: when the VM started in between, the
// saved definition is put back and the guard's status returned.
Status SwitchDefinition(Runner& r, const Plan& plan, const std::function<Status()>& guard = {});
// The plan's old XML with every moving disk an RBD network disk using the
// secret `secret_uuid`: what the switch defines (and the live copies target).
Result<RewriteResult> RewriteForSwitch(const Plan& plan, const std::string& secret_uuid);
// What each image of the migration uses in the pool (MigrateReport::used_bytes),
// best effort: a disk whose measure fails is left out.
std::map<std::string, uint64_t> UsedSpace(Runner& r);
// The running VM's live XML names every image and qemu has each one open.
Status ConfirmOnRbd(Runner& r, const Plan& plan);
// Fails naming the first moving disk of `plan` that the domain XML `xml`
// does not show on its RBD image: "<whose> disk vda is not rbd/img<after>".
Status ExpectDisksOnRbd(const std::string& xml, const Plan& plan, const std::string& whose,
                        const std::string& after = "");

}  // namespace v2r
