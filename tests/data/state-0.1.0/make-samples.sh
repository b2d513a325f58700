# Regenerates the sample state dirs of tests/data/state-0.1.0 from real runs
# of a virt2rbd binary on a lab (not run in CI: the samples are committed and
# must stay what release 0.1.0 wrote; run it with a 0.1.0 binary only).
#
#   V2R_BIN=build/virt2rbd V2R_LAB_STATE=/var/tmp/lab-X.state V2R_SRC=. \
#     bash tests/data/state-0.1.0/make-samples.sh [OUTDIR] [CASE...]
#
# Each case runs against its own domain and state dir; OUTDIR/CASE/ gets a copy
# of that state dir (state/) and the `status --format json` of it, taken with
# the same binary right after (expected-status.json). See README.md there.
source "$(dirname "$0")/../../e2e/e2e-lib.sh"

OUT=${1:-$(cd "$(dirname "$0")" && pwd)}
shift || true
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(offline-migrated offline-interrupted live-migrated rolled-back copied-back
    committed aborted live-rolled-back)

n=0

# new_domain: a shut-off guest over two small LUNs of random data (8 MiB +
# 4 MiB, sparse islands), its own cephx user (created by the migration) and
# state dir; sets DOM, SD, LOG, user.
new_domain() {
    n=$((n + 1))
    DOM=${U}-s$n
    SD=$T/state-$n
    user=${U}u$n
    own_domain "$DOM"
    own_user "$user"
    make_islands "$T/$n-a.img" $((8 * 1048576)) 0:64 3:1024 7:512
    make_islands "$T/$n-b.img" $((4 * 1048576)) 1:512
    local a b
    a=$(attach_loop "$T/$n-a.img")
    b=$(attach_loop "$T/$n-b.img")
    guest_define "$DOM" "$T" "block:$a:vda" "block:$b:vdb"
    LOG=$(guest_log "$DOM" "$T")
}
sv2r() { run_v2r "$@" --state-dir "$SD"; }
mig() { sv2r migrate "$DOM" --pool "$POOL" --client-user "$user" "$@"; }

# save CASE: copies the state dir and its status; refuses a state dir that
# holds the cephx key of the migration's user.
save() {
    local dst=$OUT/$1 key
    key=$(ceph auth get-key "client.$user" 2>/dev/null || true)
    if [ -n "$key" ] && grep -rqF -- "$key" "$SD"; then fail "$1: the state dir holds the cephx key"; fi
    # Any cephx key at all (base64 of 40 bytes, "AQ..."), e.g. of a user the case removed.
    if grep -rqE 'AQ[A-Za-z0-9+/]{38}==' "$SD"; then fail "$1: the state dir holds something like a cephx key"; fi
    rm -rf "$dst"
    mkdir -p "$dst"
    cp -a "$SD" "$dst/state"
    sv2r status --format json
    expect_rc 0
    cp "$T/out" "$dst/expected-status.json"
    note "$1: $(python3 -c 'import json,sys; print([m["phase"] for m in json.load(open(sys.argv[1]))["migrations"]])' "$T/out")"
}

case_offline-migrated() { new_domain; mig; expect_rc 0; save offline-migrated; }
case_offline-interrupted() {
    new_domain
    # SIGKILLed after the 2nd durable flush of the copy: journal and progress files left.
    V2R_FAULT=progress-record-2=crash mig --journal-interval 0.1 --bandwidth 4
    [ "$RC" = 137 ] || { cat "$T/err"; fail "expected SIGKILL, got $RC"; }
    ls "$SD"/domains/*/copy-*.progress >/dev/null || fail "no progress file left"
    save offline-interrupted
}
case_live-migrated() {
    new_domain
    guest_start "$DOM"
    guest_wait_ready "$LOG" 180
    mig --live
    expect_rc 0
    save live-migrated
}
case_live-rolled-back() {
    new_domain
    guest_start "$DOM"
    guest_wait_ready "$LOG" 180
    mig --live
    expect_rc 0
    sv2r rollback "$DOM" --live
    expect_rc 0
    save live-rolled-back
}
case_rolled-back() {
    new_domain
    mig; expect_rc 0
    sv2r rollback "$DOM" --remove-images
    expect_rc 0
    save rolled-back
}
case_copied-back() {
    new_domain
    mig; expect_rc 0
    # A change on RBD since the switch (as a guest would write): copy-back needed.
    rbd bench --io-type write --io-size 4096 --io-total 65536 "$POOL/$DOM-vdb" >/dev/null
    sv2r rollback "$DOM" --copy-back
    expect_rc 0
    save copied-back
}
case_committed() {
    new_domain
    mig; expect_rc 0
    sv2r commit "$DOM"
    expect_rc 0
    save committed
}
case_aborted() {
    new_domain
    # A failure after the copy: the failure policy undoes it (aborted).
    V2R_FAULT=after-copy=fail mig
    [ "$RC" != 0 ] || fail "the injected failure did not fail the migration"
    save aborted
}

for c in "${cases[@]}"; do
    note "case $c"
    "case_$c"
done
