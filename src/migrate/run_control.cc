#include "migrate/run_control.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace v2r {

namespace {

void ParseField(const std::string& key, const nlohmann::json& v, ControlMessage* m) {
  if (key == "bandwidth") {
    if (v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0))
      m->bandwidth = v.get<uint64_t>();
    else
      m->problems.push_back(fmt::format("\"bandwidth\" must be a whole number of bytes/s >= 0 (0: unlimited), not {}",
                                        v.dump()));
  } else if (key == "pivot") {
    if (v.is_string() && v.get<std::string>() == "go")
      m->go = true;
    else
      m->problems.push_back(fmt::format("\"pivot\" must be \"go\", not {}", v.dump()));
  } else {
    m->problems.push_back(fmt::format("unknown key \"{}\" ignored", key));
  }
}

}  // namespace

ControlMessage ParseControlLine(const std::string& line) {
  ControlMessage m;
  nlohmann::json doc = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    m.problems.push_back("not a JSON object");
    return m;
  }
  for (auto& [key, value] : doc.items()) ParseField(key, value, &m);
  return m;
}

void RunControl::SetBandwidth(uint64_t bytes_per_s) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    bandwidth_ = bytes_per_s;
    ++generation_;
  }
  std::lock_guard<std::mutex> lock(listen_mu_);
  if (listener_) listener_(bytes_per_s);
}

void RunControl::Go() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    go_ = true;
  }
  cv_.notify_all();
}

void RunControl::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

void RunControl::Apply(const ControlMessage& m) {
  if (m.bandwidth) SetBandwidth(*m.bandwidth);
  if (m.go) Go();
}

std::optional<uint64_t> RunControl::Bandwidth() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bandwidth_;
}

std::optional<uint64_t> RunControl::BandwidthChange(uint64_t* seen) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (*seen == generation_) return std::nullopt;
  *seen = generation_;
  return bandwidth_;
}

bool RunControl::closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

RunControl::Gate RunControl::WaitGo(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [this] { return go_ || closed_; });
  if (go_) return Gate::kGo;
  return closed_ ? Gate::kClosed : Gate::kWaiting;
}

RunControl::Listen::Listen(RunControl* control, Listener listener) : control_(control) {
  std::lock_guard<std::mutex> lock(control_->listen_mu_);
  control_->listener_ = std::move(listener);
  // Under listen_mu_: a SetBandwidth now either came before (seen here) or
  // waits and calls the listener after.
  if (auto b = control_->Bandwidth()) control_->listener_(*b);
}

RunControl::Listen::~Listen() {
  std::lock_guard<std::mutex> lock(control_->listen_mu_);
  control_->listener_ = nullptr;
}

}  // namespace v2r
