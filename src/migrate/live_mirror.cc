#include "migrate/live_mirror.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "base/fault.h"

namespace v2r {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPoll = std::chrono::milliseconds(200);
constexpr double kStallWarnS = 60;

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

int64_t EpochMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<std::map<std::string, DiskInfo>> LiveDisks(Domain& dom) {
  auto xml = dom.LiveXml();
  if (!xml.ok()) return xml.status();
  auto info = ParseDomainXml(*xml);
  if (!info.ok()) return info.status();
  std::map<std::string, DiskInfo> out;
  for (DiskInfo& d : info->disks) out[d.target] = std::move(d);
  return out;
}

void SplitBandwidth(uint64_t total, const std::vector<MirrorDisk*>& disks) {
  uint64_t sum = 0;
  for (const MirrorDisk* d : disks) sum += d->size;
  for (MirrorDisk* d : disks) {
    if (total == 0 || sum == 0) {
      d->bandwidth = 0;
      continue;
    }
    // total × size / sum without overflow (sizes may be terabytes).
    long double share = static_cast<long double>(total) * static_cast<long double>(d->size) / sum;
    d->bandwidth = std::max<uint64_t>(1, static_cast<uint64_t>(share));
  }
}

Status StartCopy(Runner& r, MirrorDisk& d, const MirrorEvents& ev) {
  V2R_RETURN_IF_ERROR(r.Log(rec::BlockcopyStarted(ev.start, d.target, d.dest, d.bandwidth)));
  Domain::BlockCopyParams p;
  p.reuse_ext = true;
  p.transient_job = true;
  p.bandwidth = d.bandwidth;
  V2R_RETURN_IF_ERROR(r.s.domain->BlockCopy(d.target, d.dest_xml, p));
  return FaultPoint(std::string(RecordTypeName(ev.start)) + "-done");
}

Status AdoptCopy(Runner& r, MirrorDisk& d, const MirrorEvents& ev) {
  V2R_RETURN_IF_ERROR(r.Log(rec::BlockcopyStarted(ev.adopted, d.target, d.dest, d.bandwidth)));
  if (r.observer()) r.observer()->Warn(fmt::format("disk {}: taking over the block copy to {} left by an earlier run",
                                                   d.target, d.dest));
  return r.s.domain->BlockJobSetSpeed(d.target, d.bandwidth);
}

Status CopiesRunning(Domain& dom, const std::vector<MirrorDisk*>& disks) {
  auto live = LiveDisks(dom);
  if (!live.ok()) return live.status().As(Kind::kFailed);
  for (const MirrorDisk* d : disks) {
    auto it = live->find(d->target);
    if (it == live->end() || it->second.mirror_job.empty())
      return Status::Failed(fmt::format("the block copy of disk {} to {} ended before the pivot (qemu stopped it: an "
                                        "I/O error, a full pool, or the VM stopped)",
                                        d->target, d->dest));
  }
  return Status::Ok();
}

Status WaitInSync(Runner& r, const std::string& label, const std::vector<MirrorDisk*>& disks,
                  const std::function<Status()>& tick) {
  ProgressCounters total;
  std::vector<Observer::Part> parts;
  for (MirrorDisk* d : disks) {
    d->progress.total = d->size;
    total.total += d->size;
    parts.push_back({d->target, &d->progress});
  }
  Observer* obs = r.observer();
  if (obs) obs->PhaseStarted(label, total, parts);
  const auto start = Clock::now();
  auto last_move = start;
  uint64_t last_done = 0;
  bool warned = false;
  Status st;
  std::vector<bool> ready(disks.size(), false);
  while (true) {
    if (r.Cancelled()) {
      st = Status::Interrupted(fmt::format("{} interrupted", label));
      break;
    }
    if (tick && !(st = tick()).ok()) break;
    auto live = LiveDisks(*r.s.domain);
    if (!live.ok()) {
      st = live.status().As(Kind::kFailed);
      break;
    }
    uint64_t done = 0;
    for (size_t i = 0; i < disks.size() && st.ok(); ++i) {
      MirrorDisk& d = *disks[i];
      auto it = live->find(d.target);
      auto job = r.s.domain->BlockJob(d.target);
      if (!job.ok()) {
        st = job.status().As(Kind::kFailed);
        break;
      }
      if (it == live->end() || it->second.mirror_job.empty() || !job->has_value()) {
        st = Status::Failed(fmt::format("the block copy of disk {} to {} ended before it was in sync (qemu stopped "
                                        "it: an I/O error, a full pool, or the VM stopped)",
                                        d.target, d.dest));
        break;
      }
      const auto& j = **job;
      if (it->second.mirror_ready && !ready[i]) {
        ready[i] = true;
        d.seconds = Since(start);
        d.copied = j.end;
      }
      uint64_t dd = d.size;
      if (!ready[i] && j.end > 0) {
        long double f = static_cast<long double>(j.cur) / static_cast<long double>(j.end);
        dd = std::min<uint64_t>(d.size > 0 ? d.size - 1 : 0, static_cast<uint64_t>(f * d.size));
      } else if (!ready[i]) {
        dd = 0;
      }
      d.progress.done = dd;
      d.progress.written = dd;
      done += dd;
    }
    if (!st.ok()) break;
    total.done = done;
    total.written = done;
    if (std::all_of(ready.begin(), ready.end(), [](bool b) { return b; })) break;
    if (done != last_done) {
      last_done = done;
      last_move = Clock::now();
    } else if (!warned && Since(last_move) > kStallWarnS) {
      warned = true;
      if (obs)
        obs->Warn(fmt::format("{}: no progress for {:.0f} s (is the pool full? `ceph df`); still waiting, Ctrl-C "
                              "cancels the copies",
                              label, kStallWarnS));
    }
    std::this_thread::sleep_for(kPoll);
  }
  if (obs) obs->PhaseEnded();
  return st;
}

Result<PivotTiming> PivotOne(Domain& dom, const std::string& target, double timeout_s) {
  const auto t0 = Clock::now();
  Status st;
  while (true) {
    st = dom.BlockJobAbort(target, /*pivot=*/true);
    // Refused: libvirt says not ready (the copy fell behind for a moment).
    if (st.ok() || st.kind() != Kind::kRefused || Since(t0) > timeout_s) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (!st.ok()) return st.As(Kind::kFailed);
  return PivotTiming{Since(t0) * 1000, EpochMs()};
}

Status PivotAll(Runner& r, const std::vector<MirrorDisk*>& disks, const MirrorEvents& ev) {
  for (MirrorDisk* d : disks) {
    V2R_RETURN_IF_ERROR(r.Log(rec::Pivot(ev.pivot, d->target, d->dest, EpochMs())));
    V2R_RETURN_IF_ERROR(FaultPoint(std::string(RecordTypeName(ev.pivot)) + ":" + d->target));
    auto t = PivotOne(*r.s.domain, d->target, 30);
    if (!t.ok()) return t.status();
    V2R_RETURN_IF_ERROR(r.Log(rec::Pivoted(ev.pivoted, d->target, d->dest, {{"ms", t->ms}, {"at_ms", t->at_ms}})));
  }
  return Status::Ok();
}

Status CancelCopy(Runner& r, const std::string& target, const std::string& dest, const MirrorEvents& ev) {
  auto live = LiveDisks(*r.s.domain);
  if (!live.ok()) return live.status();
  auto it = live->find(target);
  if (it == live->end() || it->second.mirror_job.empty()) return Status::Ok();
  if (it->second.mirror_source != dest)
    return Status::Refused(fmt::format("disk {} has a block job to {}, not to {}: left alone", target,
                                       it->second.mirror_source, dest),
                           "end it yourself: virsh blockjob DOMAIN " + target + " --abort");
  Status st = r.s.domain->BlockJobAbort(target, /*pivot=*/false);
  if (!st.ok() && st.kind() != Kind::kRefused) return st;  // refused: it ended meanwhile
  return r.Log(rec::BlockcopyCancelled(ev.cancelled, target, dest));
}

Status WaitUnwatched(Pool& pool, const std::string& image, int timeout_s) {
  const auto t0 = Clock::now();
  while (true) {
    auto img = pool.OpenImage(image, /*read_only=*/true);
    if (!img.ok()) return img.status().kind() == Kind::kRefused ? Status::Ok() : img.status();  // gone
    auto w = (*img)->Watchers();
    if (!w.ok()) return w.status();
    if (w->empty()) return Status::Ok();
    if (Since(t0) > timeout_s)
      return Status::Failed(fmt::format("image {} is still open by {} after {} s", (*img)->name(), fmt::join(*w, ", "),
                                        timeout_s));
    std::this_thread::sleep_for(kPoll);
  }
}

Result<uint64_t> ImageUsedBytes(Pool& pool, const std::string& image) {
  auto img = pool.OpenImage(image, /*read_only=*/true);
  if (!img.ok()) return img.status();
  auto extents = (*img)->Extents(0, (*img)->size());
  if (!extents.ok()) return extents.status();
  uint64_t used = 0;
  for (const Extent& e : *extents)
    if (!e.zero) used += e.length;
  return used;
}

}  // namespace v2r
