// How `fleet run` and `fleet cancel` show the coordinator's events
// (fleet/fleet_run.h RunOptions::on_event): --format json writes each as one
// line on stdout; a terminal gets a live table (host, VM, mode, state,
// progress, what it does or why it waits) redrawn every 2 s; otherwise (a log)
// a line per VM change, its progress every 10 s, the fleet's every 30 s.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace v2r {

class FleetPrinter {
 public:
  enum class Mode { kJson, kTable, kLines, kQuiet };
  FleetPrinter(Mode mode, int json_fd) : mode_(mode), json_fd_(json_fd) {}
  void operator()(const nlohmann::json& event);

 private:
  void Json(const nlohmann::json& event);
  void Line(const nlohmann::json& event);
  void Table(const nlohmann::json& event);

  Mode mode_;
  int json_fd_;
  std::map<std::string, std::chrono::steady_clock::time_point> last_line_;
  std::chrono::steady_clock::time_point last_fleet_{};
  std::vector<std::string> order_;               // VMs as first seen
  std::map<std::string, nlohmann::json> rows_;   // the last event of each
  size_t drawn_ = 0;                             // lines of the table on screen
};

}  // namespace v2r
