// Text and JSON renderings of plans, migration states and reports.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <string>

#include "base/observer.h"
#include "base/status.h"
#include "migrate/migrate.h"
#include "migrate/plan.h"
#include "migrate/record.h"

namespace v2r {

std::string PlanText(const Plan& plan, bool show_diff = true);
nlohmann::json PlanJson(const Plan& plan);
std::string StateText(const MigrationState& st);
nlohmann::json StateJson(const MigrationState& st);

// The end of a migration: data written, zeros skipped and RBD space used,
// and why the last exceeds the first. `used` is MigrateReport::used_bytes.
std::string SpaceSummaryText(const MigrationState& st, const std::map<std::string, uint64_t>& used);
nlohmann::json SpaceJson(const MigrationState& st, const std::map<std::string, uint64_t>& used);

// Steps as the terminal and the log show them: "[3/9] define the libvirt
// secret", and "ok (0.2 s)" or "failed (1.3 s): why".
std::string StepLine(const Step& step);
std::string StepOutcome(const Status& result, double seconds);
// "0.2 s" under a minute, then "2:03".
std::string FormatStepTime(double seconds);

}  // namespace v2r
