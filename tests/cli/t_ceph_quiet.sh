#!/usr/bin/env bash
# librados' own diagnostics never reach the screen, only virt2rbd's message:
#   - a conf without a mon host: librados writes "unable to get monitor info
#     from DNS SRV with service name: ceph-mon" to std::cerr before
#     virt2rbd's "no Ceph monitors configured";
#   - no conf at all (none given, none found): the same;
#   - a conf asking for log_to_stderr/err_to_stderr and an unreachable mon:
#     librados' log ("auth: unable to find a keyring", "monclient(hunting):
#     authenticate timed out") before "cannot reach the Ceph monitors".
# Every line on stderr must be virt2rbd's own ("virt2rbd: ...").
#
#   V2R_BIN=build/virt2rbd tests/cli/t_ceph_quiet.sh
# Needs no lab (ctest label: unit): nothing is reached.
set -euo pipefail
: "${V2R_BIN:?V2R_BIN must point at the virt2rbd binary}"
unset CEPH_ARGS CEPH_CONF
T=$(mktemp -d /tmp/v2r-ceph-quiet.XXXXXX)
trap 'rm -rf "$T"' EXIT
truncate -s 4M "$T/disk.raw"
: >"$T/empty.conf"
# Port 9 (discard) on loopback: nothing listens, the connection is refused.
printf '[global]\nmon host = 127.0.0.1:9\nlog_to_stderr = true\nerr_to_stderr = true\n' >"$T/loud.conf"

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# check NAME EXPECTED_RC EXPECTED_MESSAGE_REGEX -- ARGS...
check() {
    local name=$1 want_rc=$2 want=$3
    shift 4
    local rc=0 before=$failures
    (cd "$T" && HOME=$T "$V2R_BIN" "$@") >"$T/out" 2>"$T/err" || rc=$?
    [ "$rc" = "$want_rc" ] || fail "$name: exit $rc, expected $want_rc"
    grep -Eq "$want" "$T/err" || fail "$name: virt2rbd's message /$want/ missing"
    if grep -v '^virt2rbd: ' "$T/err" >"$T/foreign"; then
        fail "$name: lines on stderr that are not virt2rbd's:"
        sed 's/^/    /' "$T/foreign" >&2
    fi
    [ "$failures" != "$before" ] || echo "ok: $name"
}

check "conf without mon host" 3 "no Ceph monitors configured" -- \
    copy "$T/disk.raw" libvirt/v2r-quiet --conf "$T/empty.conf"
if [ -e /etc/ceph/ceph.conf ]; then
    echo "skip: no conf at all (/etc/ceph/ceph.conf exists here)"
else
    check "no conf at all" 3 "no Ceph monitors configured" -- verify "$T/disk.raw" libvirt/v2r-quiet
fi
check "conf asking for stderr logging, monitors unreachable" 3 "cannot reach the Ceph monitors" -- \
    verify "$T/disk.raw" libvirt/v2r-quiet --conf "$T/loud.conf" --connect-timeout 1

[ "$failures" = 0 ] || { echo "$failures failure(s)" >&2; exit 1; }
echo "PASS"
