// The inside of a FakeLibvirt (fake_hypervisor.h), shared by its two source
// files: fake_hypervisor.cc (domains, secrets, watchers) and
// fake_block_jobs.cc (block copies). Only those two include it.
#pragma once

#include <fmt/format.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "fake_hypervisor.h"

namespace v2r::fake {

class FakeCluster;

struct Watcher {
  std::string uuid;
  std::vector<std::string> ran;  // guarded by World::mu
};

struct Failure {
  std::string op;
  int at;  // fails when Calls(op) reaches this
  Status status;
};

struct FakeLibvirt::World {
  std::string uri;
  mutable std::mutex mu;
  std::map<std::string, FakeDomain> domains;  // by uuid
  std::vector<FakeSecret> secrets;
  std::map<std::string, FakeStoragePool> pools;  // by name
  std::vector<std::weak_ptr<Watcher>> watchers;
  std::map<std::string, int> calls;
  std::vector<Failure> failures;
  int generation = 0;  // connections of an older generation are dead
  bool down = false;
  int next_id = 1;
  // Block jobs: where rbd disks live, how many polls a copy takes to be in
  // sync, and what runs at every poll (SetBlockJobPollHook).
  FakeCluster* ceph = nullptr;
  int copy_polls = 1;
  std::function<void(const std::string& domain, const std::string& disk)> poll_hook;
  // Runs at the start of every call, with mu held (FakeLibvirt::OnCall): what
  // another process changes between two of ours.
  std::function<void(World& w, const std::string& op)> call_hook;

  std::string NewUuid() { return fmt::format("fa4e0000-0000-4000-8000-{:012x}", next_id++); }

  FakeDomain* Find(const std::string& name_or_uuid) {
    auto it = domains.find(name_or_uuid);
    if (it != domains.end()) return &it->second;
    for (auto& [uuid, d] : domains)
      if (d.name == name_or_uuid) return &d;
    return nullptr;
  }

  // Counts the call, then fails it as a lost connection or as scripted.
  // Callers hold mu.
  Status Gate(int gen, const std::string& op, Kind kind, const std::string& what) {
    int n = ++calls[op];
    if (call_hook) call_hook(*this, op);
    if (down || gen != generation) {
      std::string msg = fmt::format("{} at {}: Cannot write data: Broken pipe", what, uri);
      Status st = kind == Kind::kFailed ? Status::Failed(msg) : Status::Refused(msg);
      return st.WithCause(Cause::kConnectionLost);
    }
    for (auto it = failures.begin(); it != failures.end(); ++it) {
      if (it->op == op && it->at == n) {
        Status st = it->status;
        failures.erase(it);
        return st;
      }
    }
    return Status::Ok();
  }

  // The lifecycle event libvirt would send for from → to, when it means the
  // domain ran (LifecycleEventMeansRan); empty otherwise.
  static std::string RanEvent(DomainState from, DomainState to) {
    if (to == DomainState::kRunning) return from == DomainState::kPaused ? "resumed" : "started (booted)";
    if (to == DomainState::kPaused) return "suspended";
    if (to == DomainState::kCrashed) return "crashed";
    if (to == DomainState::kPmSuspended) return "pmsuspended";
    if (to == DomainState::kShutdown) return "shutdown";
    return "";
  }

  void Transition(FakeDomain& d, DomainState to) {
    std::string ev = RanEvent(d.state, to);
    if (to == DomainState::kRunning && d.state != DomainState::kPaused) d.live_xml = d.xml;
    if (to == DomainState::kShutoff) d.jobs.clear();  // qemu is gone, and its block jobs with it
    d.state = to;
    if (ev.empty()) return;
    for (auto& weak : watchers)
      if (auto w = weak.lock(); w && w->uuid == d.uuid) w->ran.push_back(ev);
  }
};

// --- Block jobs (fake_block_jobs.cc). Callers hold w.mu and passed the Gate;
// `d` is the domain, `disk` its target or source path. ---
Status FakeBlockCopy(FakeLibvirt::World& w, FakeDomain& d, const std::string& disk, const std::string& dest_xml,
                     const Domain::BlockCopyParams& params);
Result<std::optional<Domain::BlockJobStatus>> FakeBlockJobInfo(FakeLibvirt::World& w, FakeDomain& d,
                                                               const std::string& disk);
Status FakeBlockJobAbort(FakeLibvirt::World& w, FakeDomain& d, const std::string& disk, bool pivot);
Status FakeBlockJobSetSpeed(FakeLibvirt::World& w, FakeDomain& d, const std::string& disk, uint64_t bandwidth);

}  // namespace v2r::fake
