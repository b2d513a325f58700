// What migrate, rollback and commit share while they work on one domain:
// the connections, the locked state dir, the journal and the state folded
// from it, and the undo of an unfinished migration (Abort).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "ceph/cluster_api.h"
#include "journal/journal.h"
#include "migrate/context.h"
#include "migrate/phase.h"
#include "migrate/record.h"
#include "migrate/session.h"
#include "migrate/state_dir.h"
#include "base/observer.h"

namespace v2r {

class Runner {
 public:
  // The session opens libvirt and Ceph through ctx's openers; Log calls
  // ctx.after_record. `ctx` is copied.
  explicit Runner(const RunContext& ctx);
  // A run that recorded nothing (refused before its first record) leaves no
  // trace: the journal, lock and directories its Open created are removed.
  ~Runner();
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  // libvirt, the domain, the state dir (created), the domain's lock and
  // journal. Must be called first.
  Status Open(const std::string& uri, const std::string& domain, const std::string& state_dir);
  // Moves a finished (aborted or rolled back) journal aside so a new
  // migration starts with an empty one.
  Status ArchiveJournal();

  // Appends a record (thread-safe) and refolds the state; then the
  // context's after_record hook, whose failure makes this Log and every
  // later one fail with it (a simulated crash: nothing more is written).
  Status Log(nlohmann::json record);
  MigrationState State();

  // Undoes an unfinished (or failed) migration: the definition restored if
  // switched, the images, secret and user this migration created removed
  // (never one another domain uses), the VM restarted on its original disks
  // if it was running. Returns a sentence saying what was undone.
  Result<std::string> Abort(const std::string& reason);

  // Removes what this migration created in Ceph and libvirt (shared by Abort
  // and rollback): images (with snapshots) when `images`, then the secret and
  // the user unless another domain uses them.
  Status RemoveCreated(bool images, std::vector<std::string>* done);
  // Who else uses the secret and user of `st`: the other domains whose
  // definition names the secret, and the other unfinished migrations of the
  // state dir with the same secret or user (RemoveCreated keeps them then).
  Result<std::vector<std::string>> UsersOfSecret(const MigrationState& st);

  // Stops the domain: shutdown, force-off or both (shutdown first).
  Status StopDomain(bool shutdown, bool force_off, int timeout_s);

  // libvirt's connection broke (libvirtd restarted or gone): a failure now
  // is an environment fault, resumable, never a reason to undo.
  bool LibvirtLost() const { return s.virt && !s.virt->IsAlive(); }
  // Makes sure the session's libvirt connection works: when it broke, opens
  // it again (and the domain), retrying with backoff for up to timeout_s;
  // then kInterrupted naming the URI.
  Status ReconnectLibvirt(int timeout_s);

  // Switches the domain's autostart off for the duration of a copy (so that
  // a libvirtd restart does not start the VM on the disks being copied),
  // journalled first; RestoreAutostart turns it on again if we turned it off.
  Status DisableAutostart();
  Status RestoreAutostart();

  // The steps of a run, announced to the observer around their work: the
  // count the run expects ("[3/9]"), then each step. A step's failure is
  // announced as it happens and returned as is.
  void PlanSteps(int count) { steps_planned_ = count; }
  Status RunStep(Phase phase, const std::string& title, const std::function<Status()>& work);
  // Drives a mode through its step table (migrate/phase.h): announces how
  // many steps apply, runs each in order with its title from
  // mode.StepTitle(phase), and stops at the first failure, setting *failed
  // to its phase (untouched on success).
  template <typename Mode>
  Status RunSteps(Mode& mode, std::span<const StepEntry<Mode>> steps, Phase* failed);

  // What Abort does first, before anything is undone: a live migration ends
  // its block copies there (refusing when a disk already runs on its image).
  // Set by the mode that opens the journal (migrate, rollback).
  void SetUndoPrelude(std::function<Status(Runner&)> prelude) { undo_prelude_ = std::move(prelude); }

  bool Cancelled() const { return cancel_ && cancel_->load(); }
  Observer* observer() { return observer_; }
  const RunContext& context() const { return ctx_; }
  const std::atomic<bool>* cancel() const { return cancel_; }
  // The context's, or this run's own when the context gives none.
  Abandonment& abandonment() { return ctx_.abandonment ? *ctx_.abandonment : own_abandonment_; }

  Session s;
  std::unique_ptr<StateDir> dir;

 private:
  RunContext ctx_;
  Abandonment own_abandonment_;
  Observer* observer_;
  const std::atomic<bool>* cancel_;
  std::unique_ptr<DomainLock> lock_;
  std::vector<std::string> created_;  // paths Open created (dirs, lock, journal)
  std::unique_ptr<Journal> journal_;
  std::mutex mu_;
  MigrationState state_;
  Status crashed_;  // after_record failed: every later Log fails with it
  int steps_planned_ = 0;
  int steps_run_ = 0;
  std::function<Status(Runner&)> undo_prelude_;
  Result<std::string> Undo(const std::string& reason);
};

template <typename Mode>
Status Runner::RunSteps(Mode& mode, std::span<const StepEntry<Mode>> steps, Phase* failed) {
  auto applies = [&mode](const StepEntry<Mode>& e) { return !e.applies || (mode.*e.applies)(); };
  int count = 0;
  for (const StepEntry<Mode>& e : steps) count += applies(e) ? 1 : 0;
  PlanSteps(count);
  for (const StepEntry<Mode>& e : steps) {
    if (!applies(e)) continue;
    Status st = RunStep(e.phase, mode.StepTitle(e.phase), [&] { return (mode.*e.work)(); });
    if (st.ok() && e.after) st = (mode.*e.after)();
    if (!st.ok()) {
      if (failed) *failed = e.phase;
      return st;
    }
  }
  return Status::Ok();
}

// Removes an image this migration created, also after a crash of ours: the
// dead run's lock is broken (the dead client is blocklisted, which drops its
// watch) and a remove refused for watchers is retried for up to a minute.
Status RemoveOurImage(Pool& pool, const std::string& image);
// Opens an image of ours for writing after a crash of ours: breaks the dead
// run's exclusive lock first, so writes need not wait for its watch to expire.
Result<std::unique_ptr<Image>> OpenOurImageForWriting(Pool& pool, const std::string& image);

// Image names "pool/image".
std::string ImagePath(const std::string& pool, const std::string& image);

}  // namespace v2r
