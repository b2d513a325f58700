#!/usr/bin/env bash
# Golden tests of the command line: `virt2rbd --help`, `virt2rbd COMMAND
# --help` for every command, and the usage errors below, compared with
# tests/data/help/*.txt; and rules every help obeys: the program is named
# "virt2rbd" (not the binary's path), no CLI11 type labels (TEXT, UINT,
# "INT in [1 - 1024]"), and every option taking a value states its default
# or is required.
#
# After a deliberate change to the help or a message, regenerate and review
# the diff:
#   V2R_BIN=build/virt2rbd tests/cli/t_help.sh --update && git diff tests/data/help
# Needs no lab (ctest label: unit).
set -euo pipefail
: "${V2R_BIN:?V2R_BIN must point at the virt2rbd binary}"
src=${V2R_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
golden=$src/tests/data/help
update=0
[ "${1:-}" = --update ] && update=1
unset CEPH_ARGS CEPH_CONF LIBVIRT_DEFAULT_URI
export COLUMNS=80

# Usage errors: each is found before anything is looked at (no cluster, no
# libvirt needed). One case a line: the arguments.
usage_cases=(
    "frobnicate vm1"
    "migrate --bogus x"
    "migrate vm1 --pool libvirt --bogus=1"
    "migrate vm1"
    "migrate vm1 --pool libvirt --start --no-start"
    "migrate vm1 --pool libvirt --in-flight 0"
    "migrate vm1 --pool libvirt --cache fast"
    "migrate vm1 --pool libvirt/x"
    "migrate vm1 --pool libvirt --client-user client.vm"
    "rollback vm1 --live --shutdown"
    "migrate vm1 --pool libvirt --progress-fd 57"
    "commit vm1 --progress-fd -1"
    "migrate vm1 --pool libvirt --pivot-gate --control-fd 0"
    "migrate vm1 --pool libvirt --live --pivot-gate"
    "migrate vm1 --pool libvirt --control-fd 57"
    "copy disk.raw"
    "copy disk.raw libvirt"
    "copy disk.raw libvirt/img extra"
    "copy disk.raw libvirt/img --id a --name client.b"
    "copy disk.raw libvirt/img --in-flight-bytes 12Q"
    "verify disk.raw libvirt/img --threads 65"
)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/help"

mapfile -t commands < <("$V2R_BIN" --help | awk '/^Subcommands:/ { s = 1; next } /^[^ ]/ { s = 0 } s && /^  +[a-z]/ { print $1 }')
"$V2R_BIN" --help >"$tmp/help/virt2rbd.txt"
for c in "${commands[@]}"; do "$V2R_BIN" "$c" --help >"$tmp/help/$c.txt"; done
for args in "${usage_cases[@]}"; do
    # shellcheck disable=SC2086  # the case is a list of words
    (cd "$tmp" && set +e; "$V2R_BIN" $args >out 2>err; rc=$?
     printf '$ virt2rbd %s\n' "$args"; cat err out; printf '[exit %d]\n\n' "$rc")
done >"$tmp/help/usage-errors.txt"

if [ $update = 1 ]; then
    mkdir -p "$golden"
    rm -f "$golden"/*.txt
    cp "$tmp/help/"*.txt "$golden/"
    echo "updated $golden: $(ls "$golden" | wc -l) files"
    exit 0
fi

problems=()
problem() { problems+=("$*"); }

# The golden files, both ways.
for f in "$tmp/help/"*.txt; do
    name=$(basename "$f")
    if [ ! -f "$golden/$name" ]; then
        problem "no tests/data/help/$name (regenerate: see the top of $0)"
    elif ! diff -u "$golden/$name" "$f" >"$tmp/diff"; then
        problem "$name differs from tests/data/help/$name:"$'\n'"$(cat "$tmp/diff")"
    fi
done
for f in "$golden"/*.txt; do
    [ -e "$f" ] || continue
    [ -f "$tmp/help/$(basename "$f")" ] || problem "tests/data/help/$(basename "$f") is for no command"
done

# Rules of every help text.
for f in "$tmp/help/virt2rbd.txt" "${commands[@]/#/$tmp/help/}"; do
    f=${f%.txt}.txt
    name=$(basename "$f" .txt)
    grep -q '^Usage: virt2rbd ' "$f" || problem "$name: the usage line does not name the program 'virt2rbd': $(grep '^Usage:' "$f")"
    if grep -nE '\b(TEXT|UINT|INT|FLOAT|REQUIRED|POSITIVE|NONNEGATIVE)\b|in \[[0-9]' "$f" >"$tmp/labels"; then
        problem "$name: CLI11 type labels in the help:"$'\n'"$(cat "$tmp/labels")"
    fi
    # An option line: "  NAMES [PLACEHOLDER [(required)]]  DESCRIPTION", the
    # description on the next line when the names are long.
    awk '
        /^Options:/ { o = 1; next }
        /^[^ ]/ { o = 0 }
        !o { next }
        /^  -/ {
            if (pending != "") print pending
            line = $0; sub(/^  /, "", line)
            head = line; sub(/  .*/, "", head)
            desc = substr(line, length(head) + 1)
            n = split(head, w, " ")
            pending = (n >= 2) ? head "\t" desc : ""
            if (pending != "" && desc ~ /[^ ]/) { print pending; pending = "" }
            next
        }
        /^   / && pending != "" { print pending " " $0; pending = "" }
        END { if (pending != "") print pending }' "$f" |
    while IFS=$'\t' read -r head desc; do
        case "$head $desc" in
            *"(required)"* | *default*) ;;
            *) echo "$head" ;;
        esac
    done >"$tmp/nodefault"
    if [ -s "$tmp/nodefault" ]; then
        problem "$name: options taking a value that show no default:"$'\n'"$(cat "$tmp/nodefault")"
    fi
done

if [ ${#problems[@]} -gt 0 ]; then
    printf 'FAIL: t_help: %s\n' "${problems[@]}" >&2
    exit 1
fi
echo "PASS: t_help (${#commands[@]} commands, ${#usage_cases[@]} usage errors)"
