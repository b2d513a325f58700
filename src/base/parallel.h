// Running work items on a few threads, the first error winning.
#pragma once

#include <algorithm>
#include <cstddef>
#include <mutex>
#include <thread>
#include <vector>

#include "base/status.h"

namespace v2r {

// Calls fn(i) for every i in [0, n), on up to `parallel` threads at once.
// The first error wins: no new item starts after it, the items running
// finish (they drain their own work), and it is returned.
template <typename F>
Status ParallelFor(size_t n, int parallel, F fn) {
  std::mutex mu;
  Status first;
  size_t next = 0;
  auto worker = [&] {
    while (true) {
      size_t i;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (next >= n || !first.ok()) return;
        i = next++;
      }
      Status st = fn(i);
      std::lock_guard<std::mutex> lock(mu);
      if (!st.ok() && first.ok()) first = st;
    }
  };
  std::vector<std::thread> threads;
  int count = std::max(1, std::min<int>(parallel, static_cast<int>(n)));
  for (int t = 0; t < count; ++t) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  return first;
}

// Calls fn(i) for every i in [0, n) all at once, one thread each, and waits
// for every one: for a few independent round trips whose latencies would
// add up in turn (a snapshot per disk in the live pause). Every item runs
// whatever the others return; the error of the lowest index is returned.
template <typename F>
Status AllAtOnce(size_t n, F fn) {
  std::vector<Status> results(n);
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (size_t i = 0; i < n; ++i) threads.emplace_back([&results, &fn, i] { results[i] = fn(i); });
  for (auto& t : threads) t.join();
  for (Status& st : results)
    if (!st.ok()) return st;
  return Status::Ok();
}

}  // namespace v2r
