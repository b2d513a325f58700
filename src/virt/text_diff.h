// A line-based unified diff, as `diff -u` prints it. Pure and reentrant.
#pragma once

#include <string>

namespace v2r {

// The unified diff from `a` to `b`: "--- A_LABEL" and "+++ B_LABEL" headers,
// then hunks "@@ -start,count +start,count @@" (",count" left out when it is
// 1; an empty range shows the line before it, as diff does) with `context`
// unchanged lines around each change; hunks whose context would touch or
// overlap are merged. A last line without a newline is followed by
// "\ No newline at end of file". The edit script is a shortest one (Myers'
// O(ND) algorithm in linear space). Returns "" when a == b.
std::string UnifiedDiff(const std::string& a, const std::string& b, const std::string& a_label,
                        const std::string& b_label, int context = 3);

}  // namespace v2r
