#!/usr/bin/env bash
# The man page (docs/virt2rbd.1) against the binary: fails, listing every
# problem, when
#   - an option that `virt2rbd COMMAND --help` lists is not an item (.TP term)
#     of a section whose .SS heading names COMMAND ("virt2rbd plan|migrate
#     ...") or of COMMON OPTIONS / CEPH OPTIONS (which apply to every command);
#   - an item of a command's section is an option none of its commands
#     accepts, or an item of COMMON/CEPH OPTIONS one that some command lacks
#     (CEPH OPTIONS: among the commands that accept --conf; a command's
#     subcommands' options, as fleet plan's, count as the command's);
#   - a command has no section, or no example (a "virt2rbd COMMAND" line
#     inside .EX/.EE);
#   - an exit code of docs/exit-codes.md or src/base/exit_codes.h is not an
#     item of EXIT STATUS;
#   - an environment variable the source reads (getenv, V2R_* test hooks
#     aside) is not an item of ENVIRONMENT;
#   - man reports a formatting problem.
#
#   V2R_BIN=build/virt2rbd V2R_SRC=. tests/cli/t_man_page.sh
# Needs no lab (ctest label: unit).
set -euo pipefail
: "${V2R_BIN:?V2R_BIN must point at the virt2rbd binary}"
src=${V2R_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
page=$src/docs/virt2rbd.1
[ -f "$page" ] || { echo "FAIL: no $page" >&2; exit 1; }

problems=()
problem() { problems+=("$*"); }

# Commands and their options, as the binary's help lists them.
mapfile -t commands < <("$V2R_BIN" --help | awk '/^Subcommands:/ { s = 1; next } /^[^ ]/ { s = 0 } s && /^  +[a-z]/ { print $1 }')
[ ${#commands[@]} -gt 0 ] || { echo "FAIL: no commands in '$V2R_BIN --help'" >&2; exit 1; }
help_options() {
    "$V2R_BIN" "$1" --help | awk '
        /^Options:/ { o = 1; next }
        /^[^ ]/ { o = 0 }
        o && /^  +-/ { n = split($1, parts, ","); for (i = 1; i <= n; i++) print parts[i] }'
}
# A command with subcommands of its own (fleet plan): their options count as the command's.
sub_options() {
    local c=$1 sc
    for sc in $("$V2R_BIN" "$c" --help | awk '/^Subcommands:/ { s = 1; next } /^[^ ]/ { s = 0 } s && /^  +[a-z]/ { print $1 }'); do
        "$V2R_BIN" "$c" "$sc" --help | awk '
            /^Options:/ { o = 1; next }
            /^[^ ]/ { o = 0 }
            o && /^  +-/ { n = split($1, parts, ","); for (i = 1; i <= n; i++) print parts[i] }'
    done
}
declare -A accepts=()   # "cmd opt" -> 1
for c in "${commands[@]}"; do
    opts=$(help_options "$c"; sub_options "$c")
    [ -n "$opts" ] || problem "'virt2rbd $c --help' lists no options"
    for o in $opts; do accepts["$c $o"]=1; done
done

# The page, parsed: ITEM <commands> <section> <token>, SS <commands>, EX <line>.
parsed=$(awk '
    function norm(s) {
        gsub(/\\f[BIRP]/, "", s); gsub(/\\f\(..|\\f\[[^]]*\]/, "", s)
        gsub(/\\-/, "-", s); gsub(/\\&|\\\//, "", s); gsub(/"/, "", s)
        return s
    }
    function cmds_of(h,    w) {
        h = norm(h); sub(/^virt2rbd +/, "", h); split(h, w, " "); gsub(/\|/, " ", w[1]); return w[1]
    }
    /^\.\\"/ { next }
    /^\.SH / { sh = norm(substr($0, 5)); ss = ""; scope = (sh == "COMMON OPTIONS" || sh == "CEPH OPTIONS") ? "*" : sh; next }
    /^\.SS / { ss = substr($0, 5); if (sh == "COMMANDS") { scope = cmds_of(ss); print "SS\t" scope }; next }
    /^\.EX/ { ex = 1; next }
    /^\.EE/ { ex = 0; next }
    ex { print "EX\t" norm($0); next }
    /^\.TP/ { term = 1; next }
    term {
        term = 0
        t = norm($0); sub(/^\.[A-Z]+ +/, "", t); gsub(/,/, " ", t)
        n = split(t, w, " ")
        for (i = 1; i <= n; i++) print "ITEM\t" scope "\t" sh "\t" w[i]
    }' "$page")

# Every command: a section and an example.
for c in "${commands[@]}"; do
    grep -qP "^SS\t(.* )?$c( |\$)" <<<"$parsed" || problem "no section (.SS \"virt2rbd $c ...\") for command $c"
    grep -qP "^EX\tvirt2rbd $c( |\$)" <<<"$parsed" || problem "no example (a 'virt2rbd $c' line in .EX/.EE) for command $c"
done

# Option items: where each option is documented, and that each item is real.
declare -A documented=()  # "cmd opt" -> 1
while IFS=$'\t' read -r kind scope sh tok; do
    [ "$kind" = ITEM ] || continue
    case $tok in -?|--?*) ;; *) continue ;; esac
    [ "$sh" = "COMMANDS" ] || [ "$scope" = "*" ] || { problem "option $tok is an item of section $sh, not of a command's or COMMON/CEPH OPTIONS"; continue; }
    if [ "$scope" = "*" ]; then
        for c in "${commands[@]}"; do
            # CEPH OPTIONS: every command that talks to Ceph itself (fleet takes them from its plan file).
            [ "$sh" = "CEPH OPTIONS" ] && [ -z "${accepts["$c --conf"]:-}" ] && continue
            documented["$c $tok"]=1
            [ -n "${accepts["$c $tok"]:-}" ] || problem "$sh lists $tok, which 'virt2rbd $c' does not accept"
        done
    else
        ok=
        for c in $scope; do
            documented["$c $tok"]=1
            [ -n "${accepts["$c $tok"]:-}" ] && ok=1
        done
        [ -n "$ok" ] || problem "the section of '$scope' lists $tok, which none of them accepts"
    fi
done <<<"$parsed"
for key in "${!accepts[@]}"; do
    [ -n "${documented[$key]:-}" ] || problem "option ${key#* } of 'virt2rbd ${key%% *}' is missing from the man page"
done

# Exit codes.
items_of() { awk -F'\t' -v s="$1" '$1 == "ITEM" && $3 == s { print $4 }' <<<"$parsed"; }
exit_items=$(items_of "EXIT STATUS")
codes=$( { sed -nE 's/^\| *([0-9]+) *\|.*/\1/p' "$src/docs/exit-codes.md"
           sed -nE 's/^ *kExit[A-Za-z]+ *= *([0-9]+),.*/\1/p' "$src/src/base/exit_codes.h"; } | sort -un)
[ -n "$codes" ] || problem "no exit codes found in docs/exit-codes.md or src/base/exit_codes.h"
for code in $codes; do
    grep -qx "$code" <<<"$exit_items" || problem "exit code $code is missing from EXIT STATUS"
done

# Environment variables the source reads.
env_items=$(items_of "ENVIRONMENT")
for v in $(grep -rhoE 'getenv\("[A-Za-z_][A-Za-z0-9_]*"\)' "$src/src" | sed -E 's/getenv\("(.*)"\)/\1/' | sort -u); do
    case $v in V2R_*) continue ;; esac  # test hooks (fault injection)
    grep -qx "$v" <<<"$env_items" || problem "environment variable $v (read by the source) is missing from ENVIRONMENT"
done

# Formatting.
warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null || true)
[ -z "$warnings" ] || problem "man --warnings: $warnings"

if [ ${#problems[@]} -gt 0 ]; then
    printf 'FAIL: docs/virt2rbd.1: %s\n' "${problems[@]}" >&2
    exit 1
fi
echo "PASS: t_man_page (${#commands[@]} commands, ${#accepts[@]} command options, codes $(echo $codes))"
