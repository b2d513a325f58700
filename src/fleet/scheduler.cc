#include "fleet/scheduler.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

namespace v2r::fleet {

const char* VmPhaseName(VmPhase p) {
  switch (p) {
    case VmPhase::kWaiting: return "waiting";
    case VmPhase::kRunning: return "running";
    case VmPhase::kPivotWaiting: return "pivot-waiting";
    case VmPhase::kPivoting: return "pivoting";
    case VmPhase::kDone: return "done";
    case VmPhase::kFailed: return "failed";
    case VmPhase::kCancelled: return "cancelled";
  }
  return "?";
}

bool HoldsSlots(VmPhase p) {
  return p == VmPhase::kRunning || p == VmPhase::kPivotWaiting || p == VmPhase::kPivoting;
}

bool HasEnded(VmPhase p) {
  return p == VmPhase::kDone || p == VmPhase::kFailed || p == VmPhase::kCancelled;
}

namespace {

bool ValidHost(const SchedInput& in, const SchedVm& vm) {
  return vm.host >= 0 && static_cast<size_t>(vm.host) < in.hosts.size();
}

int HostSlots(const SchedInput& in, const SchedVm& vm) {
  return ValidHost(in, vm) ? in.hosts[vm.host].slots : in.limits.slots;
}

// Priority desc, bytes desc, id, then index: a total order, so the decision
// does not depend on how the input happens to be ordered (but for exact ties).
std::vector<int> ConsiderationOrder(const SchedInput& in) {
  std::vector<int> order(in.vms.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    const SchedVm& x = in.vms[a];
    const SchedVm& y = in.vms[b];
    if (x.priority != y.priority) return x.priority > y.priority;
    if (x.bytes != y.bytes) return x.bytes > y.bytes;
    if (x.id != y.id) return x.id < y.id;
    return a < b;
  });
  return order;
}

std::string Clock(int minute_of_day) {
  return fmt::format("{:02}:{:02}", minute_of_day / 60, minute_of_day % 60);
}

// Per wave, the VMs not yet ended: a VM of wave w waits while any of a wave < w is left.
class WaveGate {
 public:
  explicit WaveGate(const SchedInput& in) {
    for (const SchedVm& vm : in.vms)
      if (!HasEnded(vm.phase)) ++left_[vm.wave];
  }
  // "" when `wave` may start, else why not.
  std::string Why(int wave) const {
    int left = 0, first = 0, last = 0;
    for (const auto& [w, n] : left_) {
      if (w >= wave) break;
      if (left == 0) first = w;
      last = w;
      left += n;
    }
    if (left == 0) return "";
    std::string waits = first == last ? fmt::format("wave {}", first) : fmt::format("waves {}-{}", first, last);
    return fmt::format("wave {} waits for {} ({} VM{} left)", wave, waits, left, left == 1 ? "" : "s");
  }

 private:
  std::map<int, int> left_;
};

// The state of one pass: what is in use, updated as pivots are granted and VMs start.
struct Pass {
  const SchedInput& in;
  SchedDecision d;
  std::vector<int> order;
  std::vector<int> host_used;  // slots held per host
  std::vector<int> reserved;   // per host: the VM that runs alone and waits for it, else -1
  int fleet_used = 0;
  int cutovers = 0;
  uint64_t failed = 0;
  WaveGate waves;

  explicit Pass(const SchedInput& input)
      : in(input), order(ConsiderationOrder(input)), host_used(input.hosts.size(), 0),
        reserved(input.hosts.size(), -1), waves(input) {
    size_t n = in.vms.size();
    d.slots.assign(n, 0);
    d.bandwidth.assign(n, 0);
    d.why.assign(n, "");
    for (size_t i = 0; i < n; ++i) {
      const SchedVm& vm = in.vms[i];
      if (vm.phase == VmPhase::kFailed) ++failed;
      if (vm.phase == VmPhase::kPivoting || (vm.downtime && HoldsSlots(vm.phase))) ++cutovers;
      if (HoldsSlots(vm.phase)) Take(static_cast<int>(i));
    }
    d.stopped_starting = in.limits.max_failures > 0 && failed >= in.limits.max_failures;
  }

  void Take(int i) {
    const SchedVm& vm = in.vms[i];
    int s = SlotsFor(in, vm);
    d.slots[i] = s;
    fleet_used += s;
    if (ValidHost(in, vm)) host_used[vm.host] += s;
  }

  void GrantPivots() {
    for (int i : order) {
      const SchedVm& vm = in.vms[i];
      if (vm.phase != VmPhase::kPivotWaiting) continue;
      if (cutovers >= in.limits.cutovers) break;
      if (!ValidHost(in, vm) || !in.hosts[vm.host].reachable) continue;
      d.pivot.push_back(i);
      ++cutovers;
    }
  }

  // Why `vm` may not start for a reason other than slots; "" if none.
  std::string Blocked(const SchedVm& vm) const {
    if (d.stopped_starting)
      return fmt::format("max failures reached ({} failed, limit {})", failed, in.limits.max_failures);
    if (!in.cluster_ok) return "paused: " + (in.cluster_reason.empty() ? "cluster not ok" : in.cluster_reason);
    if (!ValidHost(in, vm)) return fmt::format("host #{} unknown", vm.host);
    const SchedHost& host = in.hosts[vm.host];
    if (!host.reachable) return fmt::format("host {} unreachable", host.name);
    if (std::string w = waves.Why(vm.wave); !w.empty()) return w;
    if (vm.mode == Mode::kOffline && vm.window && !vm.window->Contains(in.minute_of_day))
      return fmt::format("window {} (now {})", vm.window->Describe(), Clock(in.minute_of_day));
    if (vm.downtime && cutovers >= in.limits.cutovers)
      return fmt::format("cutovers: {}/{} in use", cutovers, in.limits.cutovers);
    return "";
  }

  // Why `vm` does not fit the free slots now; "" if it does.
  std::string NoRoom(const SchedVm& vm) const {
    const SchedHost& host = in.hosts[vm.host];
    int need = SlotsFor(in, vm);
    int used = host_used[vm.host];
    if (RunsAlone(in, vm) && used > 0)
      return fmt::format("host {}: {}/{} slots in use (runs alone: waits for the host to drain)", host.name, used,
                         host.slots);
    if (used + need > host.slots) {
      std::string needs = used < host.slots ? fmt::format(" (needs {})", need) : "";
      return fmt::format("host {}: {}/{} slots in use{}", host.name, used, host.slots, needs);
    }
    if (fleet_used + need > in.limits.slots) {
      std::string needs = fleet_used < in.limits.slots ? fmt::format(" (needs {})", need) : "";
      return fmt::format("fleet: {}/{} slots in use{}", fleet_used, in.limits.slots, needs);
    }
    return "";
  }

  void Consider(int i) {
    const SchedVm& vm = in.vms[i];
    if (std::string why = Blocked(vm); !why.empty()) {
      d.why[i] = why;
      return;
    }
    if (int r = reserved[vm.host]; r >= 0) {
      d.why[i] = fmt::format("host {} reserved for {} (runs alone)", in.hosts[vm.host].name, in.vms[r].id);
      return;
    }
    if (std::string why = NoRoom(vm); !why.empty()) {
      d.why[i] = why;
      // Only slots hold it back: keep the host for it, or smaller VMs could keep it busy forever.
      if (RunsAlone(in, vm)) reserved[vm.host] = i;
      return;
    }
    d.start.push_back(i);
    Take(i);
    if (vm.downtime) ++cutovers;
  }

  void StartWaiting() {
    for (int i : order)
      if (in.vms[i].phase == VmPhase::kWaiting) Consider(i);
  }
};

using u128 = unsigned __int128;

// One host's VMs among the holders, for the water-filling.
struct HostGroup {
  int host = -1;          // -1: VMs without a valid host (never capped)
  uint64_t cap = 0;       // 0: none
  uint64_t weight = 0;    // the sum of its VMs' slots
  std::vector<int> vms;
};

// Splits `amount` over `g`'s VMs by slots, rounded down, each at least 1.
void SplitByWeight(const HostGroup& g, uint64_t amount, uint64_t weight, SchedDecision* d) {
  for (int i : g.vms) {
    auto share = static_cast<uint64_t>(static_cast<u128>(amount) * static_cast<uint64_t>(d->slots[i]) / weight);
    d->bandwidth[i] = std::max<uint64_t>(share, 1);
  }
}

std::vector<HostGroup> Groups(const SchedInput& in, const SchedDecision& d) {
  std::vector<HostGroup> groups(in.hosts.size() + 1);
  for (size_t h = 0; h < in.hosts.size(); ++h) {
    groups[h].host = static_cast<int>(h);
    groups[h].cap = in.hosts[h].bandwidth;
  }
  for (size_t i = 0; i < in.vms.size(); ++i) {
    if (d.slots[i] == 0) continue;
    HostGroup& g = ValidHost(in, in.vms[i]) ? groups[in.vms[i].host] : groups.back();
    g.vms.push_back(static_cast<int>(i));
    g.weight += static_cast<uint64_t>(d.slots[i]);
  }
  std::erase_if(groups, [](const HostGroup& g) { return g.vms.empty(); });
  return groups;
}

// Progressive filling: raise every holder's rate per slot together; a host
// whose cap is reached stops there and the rest of the fleet budget goes on
// to the others. Hosts are taken in the order they saturate (cap / weight).
void SplitBandwidth(const SchedInput& in, SchedDecision* d) {
  std::vector<HostGroup> groups = Groups(in, *d);
  uint64_t fleet = in.limits.bandwidth;
  if (fleet == 0) {  // only host budgets, if any
    for (const HostGroup& g : groups)
      if (g.cap > 0) SplitByWeight(g, g.cap, g.weight, d);
    return;
  }
  auto saturates = [](const HostGroup& g) { return g.cap > 0; };
  std::stable_partition(groups.begin(), groups.end(), saturates);
  auto capped_end = std::find_if_not(groups.begin(), groups.end(), saturates);
  std::stable_sort(groups.begin(), capped_end, [](const HostGroup& a, const HostGroup& b) {
    return static_cast<u128>(a.cap) * b.weight < static_cast<u128>(b.cap) * a.weight;
  });
  uint64_t rem = fleet, rem_weight = 0;
  for (const HostGroup& g : groups) rem_weight += g.weight;
  size_t k = 0;
  // Host k saturates first iff cap/weight <= rem/rem_weight, the level all remaining VMs would get.
  for (; k < groups.size() && groups[k].cap > 0; ++k) {
    const HostGroup& g = groups[k];
    if (static_cast<u128>(g.cap) * rem_weight > static_cast<u128>(rem) * g.weight) break;
    SplitByWeight(g, g.cap, g.weight, d);
    rem -= g.cap;
    rem_weight -= g.weight;
  }
  for (; k < groups.size(); ++k) SplitByWeight(groups[k], rem, rem_weight, d);
}

}  // namespace

int SlotsFor(const SchedInput& in, const SchedVm& vm) {
  return std::max(1, std::min({vm.disks, HostSlots(in, vm), in.limits.slots}));
}

bool RunsAlone(const SchedInput& in, const SchedVm& vm) { return vm.disks >= HostSlots(in, vm); }

SchedDecision Schedule(const SchedInput& in) {
  Pass pass(in);
  pass.GrantPivots();
  pass.StartWaiting();
  SplitBandwidth(in, &pass.d);
  return std::move(pass.d);
}

double LowerBoundSeconds(const SchedInput& in, double fleet_rate_bps, double copy_rate_bps) {
  double fleet_rate = in.limits.bandwidth > 0 ? static_cast<double>(in.limits.bandwidth) : fleet_rate_bps;
  std::vector<double> host_bytes(in.hosts.size(), 0);
  double total = 0, largest = 0;
  for (const SchedVm& vm : in.vms) {
    auto b = static_cast<double>(vm.bytes);
    total += b;
    largest = std::max(largest, b);
    if (ValidHost(in, vm)) host_bytes[vm.host] += b;
  }
  double lb = 0;
  if (fleet_rate > 0) lb = std::max(lb, total / fleet_rate);
  for (size_t h = 0; h < in.hosts.size(); ++h) {
    double rate = in.hosts[h].bandwidth > 0 ? static_cast<double>(in.hosts[h].bandwidth) : fleet_rate;
    if (rate > 0) lb = std::max(lb, host_bytes[h] / rate);
  }
  if (copy_rate_bps > 0) lb = std::max(lb, largest / copy_rate_bps);
  return lb;
}

}  // namespace v2r::fleet
