# migrate --control-fd 0 with --keyring -: stdin holds the keyring up to a
# NUL byte, then the orchestrator's control lines (what `virt2rbd fleet`
# sends over ssh):
#  a) offline: a shut-off VM with a 64 MiB random raw file disk, migrated at
#     --bandwidth 1 (64 s at that rate); ~2 s in, {"bandwidth":0} lifts the
#     limit: a `bandwidth` event with bytes_per_s 0, the run done far below
#     64 s, the image equal to the source; a malformed line is one warning;
#     the control stream left open does not keep the run alive; no key in
#     any output;
#  b) live with --pivot-gate: a running guest; `pivot-waiting` arrives, the
#     domain stays on its source disk for 3 s, then {"pivot":"go"} and the
#     migration completes on RBD.
source "$(dirname "$0")/e2e-lib.sh"

D="${U}-ctl"
CU="${U}u"
own_domain "$D"
own_user "$CU"
guest_build
KEY=$(ceph auth print-key "client.$V2R_LAB_CLIENT")

# ev FILE EXPR: a python expression over ev (the events of FILE).
ev() { /usr/bin/python3 -c 'import json,sys; ev=[json.loads(l) for l in open(sys.argv[1])]; print(eval(sys.argv[2]))' "$1" "$2"; }
# start_migrate NAME ARGS...: virt2rbd migrate in the background, stdin the
# fifo $T/NAME.ctl (written through fd 7 here), events in $T/NAME.jsonl.
start_migrate() {
    local name=$1
    shift
    rm -f "$T/$name.ctl"
    mkfifo "$T/$name.ctl"
    "$V2R_BIN" migrate "$@" --state-dir "$STATE" --keyring - --control-fd 0 --progress-fd 3 \
        <"$T/$name.ctl" 3>"$T/$name.jsonl" >"$T/$name.out" 2>"$T/$name.err" &
    PID=$!
    exec 7>"$T/$name.ctl"
    cat "$V2R_LAB_KEYRING" >&7
    printf '\0' >&7
}
# wait_event FILE TYPE TIMEOUT_S
wait_event() {
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        grep -q "\"type\":\"$2\"" "$1" 2>/dev/null && return 0
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    grep -q "\"type\":\"$2\"" "$1" 2>/dev/null
}

# --- a) offline, the limit lifted ------------------------------------------------
note "a) offline migrate --bandwidth 1, then {\"bandwidth\":0} on the control stream"
truncate -s 64M "$T/vda.raw"
dd if=/dev/urandom of="$T/vda.raw" bs=1M count=64 conv=notrunc status=none
guest_define "$D" "$T" "file:$T/vda.raw:vda"
t0=$(date +%s)
start_migrate a "$D" --pool "$POOL" --client-user "$CU" --no-start --bandwidth 1
echo 'not json' >&7
wait_event "$T/a.jsonl" phase-started 30 || { cat "$T/a.err" >&2; fail "a) the copy never started"; }
sleep 2
echo '{"bandwidth":0}' >&7
RC=0
wait "$PID" || RC=$?
t1=$(date +%s)
exec 7>&-  # open until the run ended: it must not wait for the stream's end
[ "$RC" = 0 ] || { cat "$T/a.err" >&2; fail "a) exit $RC"; }
echo "a) migrated in $((t1 - t0)) s; events: $(ev "$T/a.jsonl" '" ".join(sorted(set(e["type"] for e in ev)))')"
[ $((t1 - t0)) -lt 30 ] || fail "a) took $((t1 - t0)) s: the limit was not lifted"
[ "$(ev "$T/a.jsonl" '[e["bytes_per_s"] for e in ev if e["type"]=="bandwidth"]')" = "[0]" ] ||
    fail "a) bandwidth events: $(ev "$T/a.jsonl" '[e for e in ev if e["type"]=="bandwidth"]')"
[ "$(ev "$T/a.jsonl" 'sum(1 for e in ev if e["type"]=="warning" and "control stream" in e["message"])')" = 1 ] ||
    fail "a) not one warning for the malformed line: $(ev "$T/a.jsonl" '[e["message"] for e in ev if e["type"]=="warning"]')"
[ "$(ev "$T/a.jsonl" 'ev[-1]["exit_code"]')" = 0 ] || fail "a) the report"
rbd export --no-progress "$POOL/$D-vda" "$T/vda.back" >/dev/null
cmp "$T/vda.raw" "$T/vda.back" || fail "a) the image differs from the source"
rm -f "$T/vda.back"
xml=$(domain_xml "$D")  # whole before grep: grep -q on a pipe may end virsh with SIGPIPE
grep -q "name='$POOL/$D-vda'" <<<"$xml" || fail "a) the definition is not on RBD"
if grep -qF "$KEY" "$T"/a.jsonl "$T"/a.out "$T"/a.err; then fail "a) the cephx key is in the output or the events"; fi
grep -qF "$KEY" "$STATE"/domains/*/log && fail "a) the cephx key is in the run log"

note "a) cleanup: rollback"
v2r rollback "$D" --remove-images -q
expect_rc 0

# --- b) live, the pivot gated -----------------------------------------------------
note "b) migrate --live --pivot-gate: the pivot waits for the go"
truncate -s 16M "$T/vdb.raw"
dd if=/dev/urandom of="$T/vdb.raw" bs=1M count=4 conv=notrunc status=none
guest_define --append "v2r.sha=none" "$D" "$T" "file:$T/vdb.raw:vda"
log=$(guest_log "$D" "$T")
guest_start "$D"
guest_wait_ready "$log" 180
start_migrate b "$D" --pool "$POOL" --client-user "$CU" --live --pivot-gate
wait_event "$T/b.jsonl" pivot-waiting 60 || { cat "$T/b.err" >&2; fail "b) no pivot-waiting event"; }
[ "$(ev "$T/b.jsonl" '[e["disks"] for e in ev if e["type"]=="pivot-waiting"]')" = "[['vda']]" ] ||
    fail "b) pivot-waiting: $(ev "$T/b.jsonl" '[e for e in ev if e["type"]=="pivot-waiting"]')"
for _ in 1 2 3 4 5 6; do
    blk=$(virsh domblklist "$D")
    grep -q "$T/vdb.raw" <<<"$blk" || fail "b) the domain left its source before the go"
    kill -0 "$PID" 2>/dev/null || fail "b) the run ended before the go"
    sleep 0.5
done
echo '{"pivot":"go"}' >&7
RC=0
wait "$PID" || RC=$?
exec 7>&-
[ "$RC" = 0 ] || { cat "$T/b.err" >&2; fail "b) exit $RC"; }
blk=$(virsh domblklist "$D")
grep -q "$POOL/$D-vda" <<<"$blk" || fail "b) the domain does not run on RBD"
[ "$(virsh domstate "$D")" = running ] || fail "b) the VM is not running"
[ "$(ev "$T/b.jsonl" 'ev[-1]["summary"]["migration"]["phase"]')" = migrated ] || fail "b) the report"
if grep -qF "$KEY" "$T"/b.jsonl "$T"/b.out "$T"/b.err; then fail "b) the cephx key is in the output or the events"; fi
guest_destroy "$D"
