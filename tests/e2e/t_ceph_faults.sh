# Ceph faults during a migration (issue 4), on a private lab of this test so the
# shared lab other tests run on is never disturbed:
#   1. kill -9 each OSD in turn during one copy, restarting it a few seconds
#      later, without restarting the tool: it completes, verified, and the
#      image is identical to the source;
#   2. kill -9 the monitor and restart it, then freeze it (SIGSTOP) for 20 s
#      across the end of the copy: the tool completes, or exits resumable
#      (75) and the rerun completes; the image is identical;
#   3. a pool quota below the data is refused at preflight by migrate and by
#      copy, with nothing created; a quota hit mid-copy (lowered under the
#      data already stored while the copy runs, as another tenant filling the
#      pool would) ends in a clean resumable exit through --stall-timeout
#      (75, the reason named, journal and copy progress intact); with the
#      quota lifted the same command resumes and completes, image identical;
#      `copy` hitting a quota mid-copy ends the same way (75), naming the
#      partial image it has to leave (its writes hang in librbd); with the
#      pool still over quota, `rollback --remove-images` removes the migrated
#      image and its snapshot (removals run with the pool's full-try flag).
#
# The private lab has ONE monitor: freezing or killing it leaves the cluster
# with no monitor at all, so every connection of the tool (its session, and
# the fresh one its verify pass opens) has to ride it out. With three, the two
# others keep a quorum and the tool would most likely never notice. Three
# OSDs: pool size 2, min_size 1, so I/O goes on while one is down.
#
# Mostly `migrate` (of a shut-off domain, never started) rather than `copy`:
# only migrate resumes inside a disk. --bandwidth makes each copy last long
# enough for the faults. Every virt2rbd run is bounded (a hang is a failure,
# not a stuck test).
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/guest-lib.sh"
: "${V2R_SRC:=$(cd "$(dirname "$0")/../.." && pwd)}"

LABDIR=$T/lab
STATE=$T/state
user=${U}u      # the VM's cephx user for pool libvirt
quser=${U}v     # and for the quota pool
qpool=${U}q
_doms=()
_bg=
_frozen=

# Undo everything this test made, whatever happened, then lib.sh's cleanup
# (temp dir, loop devices). The private lab goes with `lab down`.
_faults_cleanup() {
    local rc=$?
    set +e
    [ -n "$_frozen" ] && kill -CONT "$_frozen" 2>/dev/null
    if [ -n "$_bg" ] && kill -0 "$_bg" 2>/dev/null; then
        kill -KILL "$_bg" 2>/dev/null
        wait "$_bg" 2>/dev/null
    fi
    local d u uuid
    for d in "${_doms[@]}"; do guest_undefine "$d"; done
    for u in "$user" "$quser"; do
        for uuid in $(virsh -q secret-list 2>/dev/null | awk -v u="client.$u secret" 'index($0, u) {print $1}'); do
            virsh secret-undefine "$uuid" >/dev/null 2>&1
        done
    done
    if [ -d "$LABDIR" ]; then
        "$V2R_SRC/scripts/lab" down "$LABDIR" >/dev/null 2>&1 ||
            echo "$TEST_NAME: warning: 'scripts/lab down $LABDIR' failed" >&2
    fi
    (exit $rc)
    _cleanup
}
trap _faults_cleanup EXIT

# A signal ends the test through the EXIT trap (lab down, SIGCONT), and
# sleeps are waited for so that it does so at once.
trap 'exit 143' TERM
trap 'exit 130' INT
nap() { sleep "$1" & wait $!; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# v2r_bg NAME ARGS...: virt2rbd ARGS in the background (pid in $_bg), output
# in $T/NAME.out / .err. v2r_wait LIMIT_S: wait for it (RC; $T/out and $T/err
# are its output, for expect_rc / expect_err); fails if it runs longer.
v2r_bg() {
    local name=$1
    shift
    "$V2R_BIN" "$@" >"$T/$name.out" 2>"$T/$name.err" &
    _bg=$!
    _bg_name=$name
}
v2r_wait() {
    local deadline=$((SECONDS + $1))
    while kill -0 "$_bg" 2>/dev/null; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            kill -KILL "$_bg" 2>/dev/null
            wait "$_bg" 2>/dev/null || true
            _bg=
            tail -n 20 "$T/$_bg_name.err" >&2
            fail "$_bg_name: virt2rbd still running after $1 s (hung?)"
        fi
        nap 0.2
    done
    set +e
    wait "$_bg"
    RC=$?
    set -e
    _bg=
    cp "$T/$_bg_name.out" "$T/out"
    cp "$T/$_bg_name.err" "$T/err"
}
v2r() { v2r_bg "$1" "${@:2}"; v2r_wait "${V2R_RUN_LIMIT:-120}"; }
running() { [ -n "$_bg" ] && kill -0 "$_bg" 2>/dev/null; }

# The journal of DOMAIN's migration holds EVENT.
journal_has() { grep -q "\"event\":\"$2\"" "$STATE/domains/$(virsh domuuid "$1")/journal" 2>/dev/null; }
# still_copying DOMAIN: the tool runs and has not finished copying yet.
still_copying() { running && ! journal_has "$1" disk-copied; }

lab() { "$V2R_SRC/scripts/lab" "$@"; }
daemon_pid() {
    local pid
    pid=$(cat "$LABDIR/pids/$1.pid")
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "ceph-${1%%.*}" ] || fail "$1: pid $pid is not a running ceph-${1%%.*}"
    echo "$pid"
}
# wait_until LIMIT_S WHAT CMD...: poll CMD until it succeeds.
wait_until() {
    local limit=$1 what=$2 deadline=$((SECONDS + $1))
    shift 2
    until "$@"; do
        [ "$SECONDS" -lt "$deadline" ] || fail "$what: not after $limit s"
        nap 0.5
    done
}
osds_up() {  # osds_up [N]: N OSDs are up (default 3)
    [ "$(timeout 15 ceph osd stat -f json 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["num_up_osds"])' 2>/dev/null)" = "${1:-3}" ]
}
mon_answers() { timeout 15 ceph mon stat >/dev/null 2>&1; }
pool_flags() {
    timeout 15 ceph osd pool ls detail -f json 2>/dev/null |
        python3 -c 'import json,sys; print(next(p["flags_names"] for p in json.load(sys.stdin) if p["pool_name"]==sys.argv[1]))' "$1"
}
over_quota() { [[ ,$(pool_flags "$qpool"), == *,full_quota,* ]]; }
under_quota() { local f; f=$(pool_flags "$qpool") && [[ ,$f, != *,full_quota,* ]]; }

# define_dom NAME DISK: a shut-off domain (never started) with one disk vda.
define_dom() {
    _doms+=("$1")
    guest_define "$1" "$T" "$2:vda" >/dev/null
}
check_image() {  # check_image POOL/IMAGE SHA WHAT
    [ "$(image_sha256 "$1")" = "$2" ] || fail "$3: image $1 differs from the source"
    [ "$(rbd image-meta get "$1" virt2rbd.state)" = complete ] || fail "$3: $1 not marked complete"
}

t_all=$(now)
note "private lab: 1 monitor, 3 OSDs"
lab up "$LABDIR" --mons 1 --osds 3 --osd-size 2048 --no-libvirt >"$T/lab-up.log" 2>&1 ||
    { cat "$T/lab-up.log" >&2; fail "scripts/lab up $LABDIR failed"; }
# shellcheck disable=SC1091
source "$LABDIR/env"
POOL=$V2R_LAB_POOL
note "lab up in $(since "$t_all") s"

# --------------------------------------------------------------------------
note "3a. quota below the data: refused at preflight, nothing created"
ceph osd pool create "$qpool" 8 >/dev/null 2>&1
rbd pool init "$qpool"
# A pool in use has had an image removed, so its trash object exists; a full
# pool cannot create it, and librbd removes images through it (3d).
rbd create --size 4M "$qpool/${U}-scratch" && rbd rm --no-progress "$qpool/${U}-scratch" >/dev/null 2>&1
head -c $((128 * 1048576)) /dev/urandom >"$T/q.img"
qsha=$(file_sha256 "$T/q.img")
qdom=${U}-q
define_dom "$qdom" "file:$T/q.img"
xml0=$(virsh dumpxml --inactive --security-info "$qdom")
ceph osd pool set-quota "$qpool" max_bytes $((64 * 1048576)) >/dev/null 2>&1
# A small window (16 MiB in flight): little is abandoned when the writes
# hang, and the stall shows at once rather than after a 64 MiB window fills.
qargs=(migrate "$qdom" --pool "$qpool" --client-user "$quser" --no-start --state-dir "$STATE" --journal-interval 0.5
       --bandwidth 6 --in-flight 4 --in-flight-bytes 16M --stall-warn 3 --stall-timeout 8 --progress-interval 1)
v2r pre-migrate "${qargs[@]}"
expect_rc 3
expect_err "pool '$qpool' has room for 6[34]\.[0-9] MiB \(quota and free space\) but the disks hold 128.0 MiB of data"
v2r pre-copy copy "$T/q.img" "$qpool/${U}-c"
expect_rc 3
expect_err "pool '$qpool' has room for 6[34]\.[0-9] MiB \(quota and free space\) but $T/q.img holds 128.0 MiB of data"
expect_err "set-quota"
[ -z "$(rbd ls "$qpool")" ] || fail "3a: refused, yet images were created: $(rbd ls "$qpool" | tr '\n' ' ')"
ceph auth get "client.$quser" >/dev/null 2>&1 && fail "3a: refused, yet the cephx user was created"
[ -z "$(virsh -q secret-list | grep "client.$quser secret" || true)" ] || fail "3a: refused, yet a secret was defined"
[ "$(virsh dumpxml --inactive --security-info "$qdom")" = "$xml0" ] || fail "3a: refused, yet the definition changed"
journal_has "$qdom" begin && fail "3a: refused, yet a migration was journalled"

# --------------------------------------------------------------------------
note "1. kill -9 each OSD in turn during one copy, restarted a few seconds later"
head -c $((192 * 1048576)) /dev/urandom >"$T/osd.img"
lun=$(attach_loop "$T/osd.img")
osha=$(sha256sum <"$lun" | cut -d' ' -f1)
odom=${U}-osd
define_dom "$odom" "block:$lun"
t0=$(now)
v2r_bg osd migrate "$odom" --pool "$POOL" --client-user "$user" --no-start --state-dir "$STATE" --bandwidth 6 \
    --progress-interval 1
nap 3
for n in 0 1 2; do
    still_copying "$odom" || { cat "$T/osd.err" >&2; fail "1: the copy ended before osd.$n was killed"; }
    pid=$(daemon_pid "osd.$n")
    kill -KILL "$pid"
    tk=$(now)
    wait_until 30 "1: osd.$n marked down" osds_up 2
    nap 2
    lab start "$LABDIR" "osd.$n" >/dev/null
    newpid=$(daemon_pid "osd.$n")
    [ "$newpid" != "$pid" ] || fail "1: osd.$n did not restart"
    down=$(since "$tk")
    wait_until 60 "1: osd.$n up again" osds_up
    note "1: osd.$n killed at $(awk -v a="$t0" -v b="$tk" 'BEGIN{printf "%.1f", b-a}') s, restarted $down s later, up again after $(since "$tk") s"
done
v2r_wait 150
expect_rc 0
note "1: completed in $(since "$t0") s without a restart"
check_image "$POOL/$odom-vda" "$osha" "1"

# --------------------------------------------------------------------------
note "2. the monitor killed and restarted, then frozen for 20 s, during a copy"
head -c $((144 * 1048576)) /dev/urandom >"$T/mon.img"
msha=$(file_sha256 "$T/mon.img")
mdom=${U}-mon
define_dom "$mdom" "file:$T/mon.img"
margs=(migrate "$mdom" --pool "$POOL" --client-user "$user" --no-start --state-dir "$STATE" --bandwidth 8
       --progress-interval 1)
t0=$(now)
v2r_bg mon "${margs[@]}"
nap 3
still_copying "$mdom" || { cat "$T/mon.err" >&2; fail "2: the copy ended before the monitor was killed"; }
pid=$(daemon_pid mon.a)
kill -KILL "$pid"
tk=$(now)
nap 3
lab start "$LABDIR" mon.a >/dev/null
note "2: mon.a killed at $(awk -v a="$t0" -v b="$tk" 'BEGIN{printf "%.1f", b-a}') s, down for $(since "$tk") s"
wait_until 30 "2: the monitor answers again" mon_answers
nap 1
still_copying "$mdom" || { cat "$T/mon.err" >&2; fail "2: the copy ended before the monitor was frozen"; }
_frozen=$(daemon_pid mon.a)
kill -STOP "$_frozen"
tf=$(now)
# Frozen across the end of the copy: the verify pass connects anew.
nap 20
kill -CONT "$_frozen"
_frozen=
note "2: mon.a frozen at $(awk -v a="$t0" -v b="$tf" 'BEGIN{printf "%.1f", b-a}') s for $(since "$tf") s"
v2r_wait 120
note "2: first run exit $RC after $(since "$t0") s"
if [ "$RC" = 75 ]; then
    note "2: exited resumable: rerun"
    v2r mon-rerun "${margs[@]}"
fi
expect_rc 0
check_image "$POOL/$mdom-vda" "$msha" "2"

# --------------------------------------------------------------------------
note "3b. quota hit mid-copy: resumable exit via --stall-timeout, rerun completes"
wait_until 60 "3b: all OSDs up" osds_up
ceph osd pool set-quota "$qpool" max_bytes $((192 * 1048576)) >/dev/null 2>&1   # room for the 128 MiB
t0=$(now)
v2r_bg quota "${qargs[@]}"
nap 3
still_copying "$qdom" || { cat "$T/quota.err" >&2; fail "3b: the copy ended before the quota was lowered"; }
ceph osd pool set-quota "$qpool" max_bytes $((8 * 1048576)) >/dev/null 2>&1
tq=$(now)
# The monitor flags the pool from the mgr's statistics, a few seconds later.
until over_quota; do
    running || { cat "$T/quota.err" >&2; fail "3b: the tool ended before the pool was flagged over quota"; }
    nap 0.3
done
note "3b: quota lowered at $(awk -v a="$t0" -v b="$tq" 'BEGIN{printf "%.1f", b-a}') s, pool flagged full_quota $(since "$tq") s later"
v2r_wait 60
note "3b: exit $RC $(since "$tq") s after the quota was lowered"
expect_rc 75
expect_err "warning: disk vda: no write completed for [0-9]+ s"
expect_err "no write to $qpool/$qdom-vda completed for [0-9]+ s"
expect_err "rerun to resume.*or undo with: virt2rbd rollback"
journal=$STATE/domains/$(virsh domuuid "$qdom")/journal
progress=$STATE/domains/$(virsh domuuid "$qdom")/copy-vda.progress
grep -q '"type":"durable"' "$progress" || fail "3b: no copy progress was recorded before the stall"
journal_has "$qdom" disk-copied && fail "3b: the stalled copy was recorded as done"
run_v2r status "$qdom" --state-dir "$STATE"
expect_rc 0
grep -q unfinished "$T/out" || { cat "$T/out" >&2; fail "3b: status does not show an unfinished migration"; }
[ "$(rbd ls "$qpool")" = "$qdom-vda" ] || fail "3b: expected the one partial image, got: $(rbd ls "$qpool" | tr '\n' ' ')"

ceph osd pool set-quota "$qpool" max_bytes 0 >/dev/null 2>&1
tq=$(now)
wait_until 60 "3b: the full_quota flag cleared" under_quota
note "3b: quota lifted, flag cleared after $(since "$tq") s"
t0=$(now)
v2r quota-rerun "${qargs[@]}"
expect_rc 0
journal_has "$qdom" copy-resume || fail "3b: the rerun did not resume"
resumed=$(grep '"event":"copy-resume"' "$journal" | sed -E 's/.*"done_bytes":([0-9]+).*/\1/')
[ "${resumed:-0}" -gt 0 ] || fail "3b: the rerun resumed from nothing"
note "3b: the rerun resumed from $((resumed / 1048576)) MiB and completed in $(since "$t0") s"
check_image "$qpool/$qdom-vda" "$qsha" "3b"
[ "$(rbd ls "$qpool")" = "$qdom-vda" ] || fail "3b: not exactly one image: $(rbd ls "$qpool" | tr '\n' ' ')"

# --------------------------------------------------------------------------
note "3c. copy into a pool whose quota is hit mid-copy: exit 75 past --stall-timeout, the partial image named"
head -c $((64 * 1048576)) /dev/urandom >"$T/c3.raw"
# Room for the 64 MiB besides the 128 MiB image of 3b: preflight passes.
ceph osd pool set-quota "$qpool" max_bytes $((224 * 1048576)) >/dev/null 2>&1
wait_until 60 "3c: under quota" under_quota
t0=$(now)
v2r_bg copy3c copy "$T/c3.raw" "$qpool/${U}c3" --bandwidth 3 --in-flight 4 --in-flight-bytes 16M \
    --stall-warn 3 --stall-timeout 6 --progress-interval 1
nap 3
running || { cat "$T/copy3c.err" >&2; fail "3c: the copy ended before the quota was lowered"; }
ceph osd pool set-quota "$qpool" max_bytes $((8 * 1048576)) >/dev/null 2>&1
tq=$(now)
v2r_wait 90
note "3c: exit $RC $(since "$tq") s after the quota was lowered"
expect_rc 75
expect_err "warning: no write to $qpool/${U}c3 completed for [0-9]+ s"
expect_err "the partial image $qpool/${U}c3 is left"
rbd ls "$qpool" | grep -qx "${U}c3" || fail "3c: the partial image is not there"

# --------------------------------------------------------------------------
note "3d. rollback --remove-images in the pool still over quota: the image and its snapshot go"
# Removing frees space, so it must not wait for room (rbd rm would block here).
wait_until 60 "3d: over quota" over_quota
rbd snap ls "$qpool/$qdom-vda" | grep -q . || fail "3d: the migrated image has no rollback snapshot to remove"
t0=$(now)
v2r rollback3d rollback "$qdom" --remove-images --state-dir "$STATE"
expect_rc 0
note "3d: rolled back in $(since "$t0") s with the pool over quota"
over_quota || fail "3d: the pool is no longer over quota: the case proves nothing"
if rbd ls "$qpool" | grep -qx "$qdom-vda"; then
    cat "$T/rollback3d.out" "$T/rollback3d.err" >&2
    rbd info "$qpool/$qdom-vda" >&2
    rbd snap ls "$qpool/$qdom-vda" >&2
    fail "3d: the image is still there"
fi
[ "$(virsh dumpxml --inactive --security-info "$qdom")" = "$xml0" ] || fail "3d: the definition is not the original"
ceph auth get "client.$quser" >/dev/null 2>&1 && fail "3d: the cephx user is still there"

note "all cases in $(since "$t_all") s"
