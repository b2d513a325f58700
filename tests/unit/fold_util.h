// Folds records that must fold (migrate/record.h): a refused fold fails the test.
#pragma once

#include <gtest/gtest.h>

#include <vector>

#include "migrate/record.h"

namespace v2r {

inline MigrationState MustFold(const std::vector<nlohmann::json>& records) {
  auto s = FoldJournal(records);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(*s) : MigrationState();
}

}  // namespace v2r
