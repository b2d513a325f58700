// Text and JSON renderings of plans, migration states and reports.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "migrate/migrate.h"
#include "migrate/plan.h"
#include "migrate/record.h"

namespace v2r {

std::string PlanText(const Plan& plan, bool show_diff = true);
nlohmann::json PlanJson(const Plan& plan);
std::string StateText(const MigrationState& st);
nlohmann::json StateJson(const MigrationState& st);

}  // namespace v2r
