// A libvirt domain's operations: state, lifecycle, XML, block jobs.
#include "virt/libvirt.h"

#include <utility>

#include <fmt/format.h>

#include "virt/handles.h"

namespace v2r {

using namespace lv;

// ---------------------------------------------------------------------------
// VirtDomain

VirtDomain::VirtDomain(virConnect* conn, virDomain* dom, std::string uri, std::string name, std::string uuid)
    : conn_(RefConnect(conn)), dom_(dom), uri_(std::move(uri)), name_(std::move(name)), uuid_(std::move(uuid)) {}

Result<DomainState> VirtDomain::State() {
  int state = 0;
  int reason = 0;
  if (virDomainGetState(dom_, &state, &reason, 0) < 0) {
    return Status::Refused(fmt::format("reading the state of domain '{}' at {}: {}", name_, uri_, LastError()));
  }
  switch (state) {
    case VIR_DOMAIN_RUNNING:
    case VIR_DOMAIN_BLOCKED: return DomainState::kRunning;
    case VIR_DOMAIN_PAUSED: return DomainState::kPaused;
    case VIR_DOMAIN_SHUTDOWN: return DomainState::kShutdown;
    case VIR_DOMAIN_SHUTOFF: return DomainState::kShutoff;
    case VIR_DOMAIN_CRASHED: return DomainState::kCrashed;
    case VIR_DOMAIN_PMSUSPENDED: return DomainState::kPmSuspended;
    default: return DomainState::kOther;
  }
}

Result<bool> VirtDomain::IsPersistent() {
  int r = virDomainIsPersistent(dom_);
  if (r < 0) {
    return Status::Refused(
        fmt::format("checking whether domain '{}' at {} is persistent: {}", name_, uri_, LastError()));
  }
  return r == 1;
}

Result<bool> VirtDomain::HasManagedSave() {
  int r = virDomainHasManagedSaveImage(dom_, 0);
  if (r < 0) {
    return Status::Refused(
        fmt::format("checking domain '{}' at {} for a managed save image: {}", name_, uri_, LastError()));
  }
  return r == 1;
}

namespace {

// A lifecycle call on `dom`: failure is kFailed "<what>: <libvirt's error>",
// `what` naming the domain and its URI (in that order).
Status LifecycleCall(int (*call)(virDomainPtr), virDomainPtr dom, const Domain& d,
                     fmt::format_string<const std::string&, const std::string&> what) {
  if (call(dom) < 0) return Status::Failed(fmt::format(what, d.name(), d.uri()) + ": " + LastError());
  return Status::Ok();
}

// The names of a list libvirt allocated (snapshots, checkpoints); frees the
// list and its items.
template <class Ptr>
std::vector<std::string> TakeNames(Ptr* items, int n, const char* (*name_of)(Ptr), int (*free_item)(Ptr)) {
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) {
    const char* name = name_of(items[i]);
    if (name != nullptr) names.emplace_back(name);
    free_item(items[i]);
  }
  std::free(items);
  return names;
}

}  // namespace

Result<std::vector<std::string>> VirtDomain::SnapshotNames() {
  virDomainSnapshotPtr* snaps = nullptr;
  int n = virDomainListAllSnapshots(dom_, &snaps, 0);
  if (n < 0) {
    return Status::Refused(fmt::format("listing the snapshots of domain '{}' at {}: {}", name_, uri_, LastError()));
  }
  return TakeNames(snaps, n, virDomainSnapshotGetName, virDomainSnapshotFree);
}

Result<std::vector<std::string>> VirtDomain::CheckpointNames() {
  virDomainCheckpointPtr* cps = nullptr;
  int n = virDomainListAllCheckpoints(dom_, &cps, 0);
  if (n < 0) {
    int code = virGetLastErrorCode();
    if (code == VIR_ERR_NO_SUPPORT || code == VIR_ERR_OPERATION_UNSUPPORTED) return std::vector<std::string>();
    return Status::Refused(
        fmt::format("listing the checkpoints of domain '{}' at {}: {}", name_, uri_, LastError()));
  }
  return TakeNames(cps, n, virDomainCheckpointGetName, virDomainCheckpointFree);
}

Result<int> VirtDomain::Id() {
  // virDomainGetID answers the id cached in the handle when it was looked up
  // (the remote driver does not ask again), so look the domain up afresh.
  DomainHandle fresh(virDomainLookupByUUIDString(conn_, uuid_.c_str()));
  if (!fresh) {
    return Status::Refused(fmt::format("looking up domain '{}' at {}: {}", name_, uri_, LastError()));
  }
  unsigned id = virDomainGetID(fresh.get());
  return id == static_cast<unsigned>(-1) ? -1 : static_cast<int>(id);
}

Result<std::string> VirtDomain::XmlDesc(unsigned flags) {
  CString xml(virDomainGetXMLDesc(dom_, flags));
  if (!xml) {
    return Status::Refused(fmt::format("reading the XML of domain '{}' at {}: {}", name_, uri_, LastError()));
  }
  return std::string(xml.get());
}

Status VirtDomain::Shutdown() {
  return LifecycleCall(virDomainShutdown, dom_, *this, "asking domain '{}' at {} to shut down");
}
Status VirtDomain::Destroy() { return LifecycleCall(virDomainDestroy, dom_, *this, "powering off domain '{}' at {}"); }
Status VirtDomain::Start() { return LifecycleCall(virDomainCreate, dom_, *this, "starting domain '{}' at {}"); }
Status VirtDomain::Suspend() { return LifecycleCall(virDomainSuspend, dom_, *this, "pausing domain '{}' at {}"); }
Status VirtDomain::Resume() { return LifecycleCall(virDomainResume, dom_, *this, "resuming domain '{}' at {}"); }

Result<bool> VirtDomain::Autostart() {
  int on = 0;
  if (virDomainGetAutostart(dom_, &on) < 0)
    return Status::Refused(fmt::format("reading the autostart flag of domain '{}' at {}: {}", name_, uri_, LastError()));
  return on != 0;
}

Status VirtDomain::SetAutostart(bool on) {
  if (virDomainSetAutostart(dom_, on ? 1 : 0) < 0)
    return Status::Failed(fmt::format("turning autostart {} for domain '{}' at {}: {}", on ? "on" : "off", name_, uri_,
                                      LastError()));
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// Block jobs

Status VirtDomain::BlockCopy(const std::string& disk, const std::string& dest_disk_xml,
                             const BlockCopyParams& params) {
  virTypedParameterPtr tp = nullptr;
  int n = 0, max = 0;
  if (params.bandwidth > 0 &&
      virTypedParamsAddULLong(&tp, &n, &max, VIR_DOMAIN_BLOCK_COPY_BANDWIDTH, params.bandwidth) < 0) {
    return Status::Internal("preparing the block copy parameters: " + LastError());
  }
  unsigned flags = 0;
  if (params.reuse_ext) flags |= VIR_DOMAIN_BLOCK_COPY_REUSE_EXT;
  if (params.transient_job) flags |= VIR_DOMAIN_BLOCK_COPY_TRANSIENT_JOB;
  int r = virDomainBlockCopy(dom_, disk.c_str(), dest_disk_xml.c_str(), tp, n, flags);
  virTypedParamsFree(tp, n);
  if (r < 0) {
    return Status::Failed(
        fmt::format("starting a block copy of disk {} of domain '{}' at {}: {}", disk, name_, uri_, LastError()));
  }
  return Status::Ok();
}

Result<std::optional<VirtDomain::BlockJobStatus>> VirtDomain::BlockJob(const std::string& disk) {
  virDomainBlockJobInfo info{};
  int r = virDomainGetBlockJobInfo(dom_, disk.c_str(), &info, VIR_DOMAIN_BLOCK_JOB_INFO_BANDWIDTH_BYTES);
  if (r < 0) {
    return Status::Refused(
        fmt::format("reading the block job of disk {} of domain '{}' at {}: {}", disk, name_, uri_, LastError()));
  }
  if (r == 0) return std::optional<BlockJobStatus>();
  BlockJobStatus st;
  switch (info.type) {
    case VIR_DOMAIN_BLOCK_JOB_TYPE_PULL: st.type = BlockJobType::kPull; break;
    case VIR_DOMAIN_BLOCK_JOB_TYPE_COPY: st.type = BlockJobType::kCopy; break;
    case VIR_DOMAIN_BLOCK_JOB_TYPE_COMMIT: st.type = BlockJobType::kCommit; break;
    case VIR_DOMAIN_BLOCK_JOB_TYPE_ACTIVE_COMMIT: st.type = BlockJobType::kActiveCommit; break;
    case VIR_DOMAIN_BLOCK_JOB_TYPE_BACKUP: st.type = BlockJobType::kBackup; break;
    default: st.type = BlockJobType::kOther; break;
  }
  st.cur = info.cur;
  st.end = info.end;
  st.bandwidth = info.bandwidth;
  return std::optional<BlockJobStatus>(st);
}

Status VirtDomain::BlockJobAbort(const std::string& disk, bool pivot) {
  if (virDomainBlockJobAbort(dom_, disk.c_str(), pivot ? VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT : 0) < 0) {
    std::string what = pivot ? "pivoting" : "cancelling";
    if (virGetLastErrorCode() == VIR_ERR_OPERATION_INVALID) {  // no job; or not ready to pivot
      return Status::Refused(fmt::format("{} the block job of disk {} of domain '{}' at {}: {}", what, disk, name_,
                                         uri_, LastError()));
    }
    return Status::Failed(fmt::format("{} the block job of disk {} of domain '{}' at {}: {}", what, disk, name_,
                                      uri_, LastError()));
  }
  return Status::Ok();
}

Status VirtDomain::BlockJobSetSpeed(const std::string& disk, uint64_t bandwidth) {
  if (virDomainBlockJobSetSpeed(dom_, disk.c_str(), static_cast<unsigned long>(bandwidth),
                                VIR_DOMAIN_BLOCK_JOB_SPEED_BANDWIDTH_BYTES) < 0) {
    return Status::Failed(fmt::format("setting the bandwidth of the block job of disk {} of domain '{}' at {}: {}",
                                      disk, name_, uri_, LastError()));
  }
  return Status::Ok();
}

}  // namespace v2r
