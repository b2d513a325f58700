// Human-readable sizes and rates, and parsing of sizes on the command line.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "base/status.h"

namespace v2r {

// 1536 -> "1.5 KiB"; exact bytes below 1 KiB.
std::string FormatBytes(uint64_t bytes);
// `bytes` in the largest binary unit it reaches (at most EiB): the value and
// the unit's name ("KiB", "MiB", ...); below 1024 the bytes and "B".
std::pair<double, const char*> ScaleBytes(uint64_t bytes);
// Seconds as "1:02:03" / "2:03" / "3s".
std::string FormatDuration(double seconds);
// "4M", "4MiB", "64k", "1G", "512" (bytes). Binary multiples.
Result<uint64_t> ParseSize(const std::string& text);

}  // namespace v2r
