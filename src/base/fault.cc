#include "base/fault.h"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <sstream>
#include <thread>

namespace v2r {

namespace {
std::string& Scope() {
  static std::string scope;
  return scope;
}

std::string Spec() {
  const char* v = std::getenv("V2R_FAULT");
  const char* only = std::getenv("V2R_FAULT_DOMAIN");
  if (only && *only && Scope() != only) return "";
  return v ? v : "";
}
}  // namespace

void SetFaultScope(const std::string& domain) { Scope() = domain; }

Status FaultPoint(const std::string& name) {
  std::string spec = Spec();
  if (spec.empty()) return Status::Ok();
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item == name + "=crash") {
      std::raise(SIGKILL);
    } else if (item == name + "=fail") {
      return Status::Failed("injected failure at " + name);
    } else if (item.rfind(name + "=sleep:", 0) == 0) {
      std::this_thread::sleep_for(std::chrono::duration<double>(std::stod(item.substr(name.size() + 7))));
    }
  }
  return Status::Ok();
}

std::optional<uint64_t> InjectedReadError(const std::string& target) {
  std::string spec = Spec();
  std::stringstream ss(spec);
  std::string item;
  std::string prefix = "read-error:" + target + "@";
  while (std::getline(ss, item, ','))
    if (item.rfind(prefix, 0) == 0) return std::stoull(item.substr(prefix.size()));
  return std::nullopt;
}

}  // namespace v2r
