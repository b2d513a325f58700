#include "cli/fleet_printer.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include <fmt/format.h>

#include "base/json_field.h"
#include "base/units.h"

namespace v2r {

namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string Id(const nlohmann::json& e) {
  return JsonField<std::string>(e, "host", "") + "/" + JsonField<std::string>(e, "vm", "");
}

std::string FleetLine(const nlohmann::json& e) {
  std::string eta = e.contains("eta_s") && e["eta_s"].is_number() ? FormatDuration(e["eta_s"].get<double>()) : "-";
  std::string s = fmt::format("fleet: {} running, {} waiting, {} done, {} failed, {} cancelled; {}/s; ETA {}",
                              JsonField<int>(e, "running", 0), JsonField<int>(e, "waiting", 0),
                              JsonField<int>(e, "done", 0), JsonField<int>(e, "failed", 0),
                              JsonField<int>(e, "cancelled", 0),
                              FormatBytes(static_cast<uint64_t>(JsonField<double>(e, "rate_bps", 0.0))), eta);
  std::string stopped = e.contains("stopped") && e["stopped"].is_string() ? e["stopped"].get<std::string>() : "";
  if (!stopped.empty()) s += "; new starts stopped: " + stopped;
  return s;
}

}  // namespace

void FleetPrinter::operator()(const nlohmann::json& event) {
  switch (mode_) {
    case Mode::kJson: return Json(event);
    case Mode::kLines: return Line(event);
    case Mode::kTable: return Table(event);
    case Mode::kQuiet: return;
  }
}

void FleetPrinter::Json(const nlohmann::json& event) {
  std::string line = event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  size_t off = 0;
  while (json_fd_ >= 0 && off < line.size()) {
    ssize_t n = ::write(json_fd_, line.data() + off, line.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the reader went away; the run goes on
    off += static_cast<size_t>(n);
  }
}

void FleetPrinter::Line(const nlohmann::json& e) {
  if (JsonField<std::string>(e, "type", "") == "fleet") {
    if (Since(last_fleet_) < 30.0) return;
    last_fleet_ = Clock::now();
    std::fprintf(stderr, "%s\n", FleetLine(e).c_str());
    return;
  }
  std::string id = Id(e);
  bool changed = JsonField<bool>(e, "changed", true);
  auto it = last_line_.find(id);
  if (!changed && it != last_line_.end() && Since(it->second) < 10.0) return;
  last_line_[id] = Clock::now();
  std::string progress = JsonField<std::string>(e, "progress", "");
  std::fprintf(stderr, "fleet: %s: %s%s\n", id.c_str(), JsonField<std::string>(e, "doing", "").c_str(),
               progress.empty() ? "" : ("  " + progress).c_str());
}

void FleetPrinter::Table(const nlohmann::json& e) {
  if (JsonField<std::string>(e, "type", "") == "vm") {
    std::string id = Id(e);
    if (!rows_.count(id)) order_.push_back(id);
    rows_[id] = e;
    return;
  }
  std::string text = fmt::format("{:<12} {:<20} {:<7} {:<11} {:<30} {}\n", "HOST", "VM", "MODE", "STATE",
                                 "PROGRESS", "WHAT / WHY WAITING");
  for (const std::string& id : order_) {
    const nlohmann::json& r = rows_[id];
    text += fmt::format("{:<12} {:<20} {:<7} {:<11} {:<30} {}\n", JsonField<std::string>(r, "host", ""),
                        JsonField<std::string>(r, "vm", ""), JsonField<std::string>(r, "mode", ""),
                        JsonField<std::string>(r, "state", ""), JsonField<std::string>(r, "progress", ""),
                        JsonField<std::string>(r, "doing", "").substr(0, 80));
  }
  text += FleetLine(e) + "\n";
  if (drawn_ > 0) std::fprintf(stderr, "\x1b[%zuF\x1b[J", drawn_);  // back to the table's first line
  std::fputs(text.c_str(), stderr);
  drawn_ = static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

}  // namespace v2r
