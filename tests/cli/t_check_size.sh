#!/usr/bin/env bash
# scripts/check-size against sources made here: it must report a function over
# the limit (and only that one) through braces in comments, strings, raw
# strings, character literals and digit separators, count a lambda as part of
# its function, not take a long table, enum, class or namespace for a
# function, and report a file over the limit. Needs no lab (ctest label: unit).
set -euo pipefail
src=${V2R_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
check=$src/scripts/check-size
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
fail() { echo "t_check_size: $*" >&2; exit 1; }

# body N: N lines of statements
body() { local i; for ((i = 0; i < $1; i++)); do echo "  x += $i;"; done; }

mkdir -p "$t/src/a"
{
    echo '#include <string>'
    echo 'namespace v2r {'
    echo 'namespace {'
    echo '// a comment with a brace {'
    echo 'struct Table { int a; const char* s; };'
    echo 'const Table kTable[] = {'
    for ((i = 0; i < 90; i++)); do echo "    {$i, \"row {$i\"},"; done
    echo '};'
    echo 'enum class Kind {'
    for ((i = 0; i < 90; i++)); do echo "  k$i,"; done
    echo '};'
    echo '}  // namespace'
    echo 'class Big {'
    echo ' public:'
    echo '  Big() : a_{1}, s_("}") {'
    body 20
    echo '  }'
    echo '  int Inline() const { return a_; }'
    for ((i = 0; i < 70; i++)); do echo "  int m$i = 0;"; done
    echo ' private:'
    echo '  int a_;'
    echo '  std::string s_;'
    echo '};'
    # 80 lines by the count (closing brace line - opening brace line): at the limit
    echo 'int AtTheLimit(int x) {'
    body 78
    echo '  return x;'
    echo '}'
    # 81 lines, with every trap: braces in strings, raw strings, chars, comments; a lambda
    echo 'int TooLong(int x) noexcept {'
    echo '  const char* s = "{ {";  /* } */'
    echo '  const char* r = R"json({"a": "}"})json";'
    echo "  char c = '{'; char d = '\\'';"
    echo "  long big = 1'000'000;"
    echo '  auto f = [&](int y) {'
    body 70
    echo '    return y;'
    echo '  };'
    body 2
    echo '  return f(x) + (s[0] == c) + (r[0] == d) + big;'
    echo '}'
    echo '}  // namespace v2r'
} >"$t/src/a/long.cc"

rc=0
out=$(python3 "$check" "$t/src") || rc=$?
[[ $rc -eq 1 ]] || fail "exit $rc with a function over the limit (want 1); output: $out"
grep -q 'long.cc:[0-9]*: TooLong: 81 lines' <<<"$out" || fail "TooLong (81 lines) not reported: $out"
[[ $(grep -c 'lines (at most' <<<"$out") -eq 1 ]] || fail "more than TooLong reported: $out"

# the same without the long function: nothing to report
sed -i '/^int TooLong/,/^}$/d' "$t/src/a/long.cc"
rc=0
out=$(python3 "$check" "$t/src") || rc=$?
[[ $rc -eq 0 && -z $out ]] || fail "exit $rc on sources within the limits: $out"

# a file over 600 lines (of short functions)
{
    echo 'namespace v2r {'
    for ((i = 0; i < 150; i++)); do printf 'int F%d(int x) {\n  return x + %d;\n}\n\n' "$i" "$i"; done
    echo '}  // namespace v2r'
} >"$t/src/a/many.h"
rc=0
out=$(python3 "$check" "$t/src") || rc=$?
[[ $rc -eq 1 ]] || fail "exit $rc with a file of 602 lines (want 1)"
grep -q 'many.h: 602 lines (at most 600' <<<"$out" || fail "many.h not reported: $out"
grep -q 'long.cc' <<<"$out" && fail "long.cc reported without its long function: $out"
echo "t_check_size: ok"
