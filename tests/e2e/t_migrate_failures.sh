# migrate: injected failures leave the VM running on its original disks.
#
# One running two-disk guest (vda: an ext4 image on a loop device, vdb: a raw
# loop device with data around 8 MiB), then three failed migrations:
#   a) a read error on vdb at 8 MiB mid-copy        -> exit 4, everything undone
#   b) a failure just before the start, after the switch -> exit 4, definition
#      restored, VM restarted on its originals
#   c) virt2rbd SIGKILLed after a copy               -> `rollback` undoes it
# After each: the VM runs again (a new boot in its console log, which sees the
# same bytes on both disks and the same files), on the loop devices, with the
# exact definition it had (secure info included); no image, cephx user or
# libvirt secret of this test is left; `status` records the abort.
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/guest-lib.sh"
note() { echo "--- [${SECONDS}s] $*"; }

D="${U}-dom"
CU="${U}u"
STATE="$T/state"

_domains=()
_v2r_cleanup() {
    local rc=$?
    set +e
    local dom s img uuid dev
    for dom in "${_domains[@]}"; do
        for s in $(virsh -q snapshot-list --name "$dom" 2>/dev/null); do
            virsh -q snapshot-delete "$dom" "$s" --metadata >/dev/null 2>&1
        done
        guest_undefine "$dom"
    done
    for img in $(rbd ls "$POOL" 2>/dev/null | grep -- "^${U}-"); do
        rbd snap purge --no-progress "$POOL/$img" >/dev/null 2>&1
        rbd rm --no-progress "$POOL/$img" >/dev/null 2>&1
    done
    ceph auth del "client.$CU" >/dev/null 2>&1
    for uuid in $(virsh -q secret-list 2>/dev/null | awk -v u="client.$CU secret" 'index($0, u) { print $1 }'); do
        virsh -q secret-undefine "$uuid" >/dev/null 2>&1
    done
    detach_own_loops
    (exit $rc)
    _cleanup
}
trap _v2r_cleanup EXIT

expect_out() {
    grep -Eq -- "$1" "$T/out" || { cat "$T/out" >&2; fail "stdout does not match /$1/"; }
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# --- the guest ----------------------------------------------------------------
guest_build
mkdir -p "$T/src/sub"
echo "virt2rbd failures $U" >"$T/src/hello.txt"
head -c 300000 /dev/urandom >"$T/src/sub/random.bin"
make_fs_image "$T/vda.img" 16 "$T/src"
# vdb: 16 MiB raw, data at 0 and from 4 to 12 MiB (so there is data at 8 MiB)
truncate -s 16M "$T/vdb.raw"
dd if=/dev/urandom of="$T/vdb.raw" bs=1M count=1 conv=notrunc status=none
dd if=/dev/urandom of="$T/vdb.raw" bs=1M seek=4 count=8 conv=notrunc status=none
loop_a=$(attach_loop "$T/vda.img")
loop_b=$(attach_loop "$T/vdb.raw")
sha_a=$(sha256sum <"$loop_a" | cut -d' ' -f1)
sha_b=$(sha256sum <"$loop_b" | cut -d' ' -f1)
fs_expected_files "$T/src" >"$T/files.expected"

_domains+=("$D")
guest_define "$D" "$T" "block:$loop_a:vda" "block:$loop_b:vdb"
log=$(guest_log "$D" "$T")
virsh dumpxml --inactive --security-info "$D" >"$T/def.before"
uuid=$(virsh domuuid "$D" | sed -n 1p)
guest_start "$D"
guest_wait_ready "$log" 120
note "guest up in ${GUEST_ELAPSED}s"
COMMON=(--pool "$POOL" --state-dir "$STATE" --client-user "$CU")

# The guest's boot BOOTS saw the original disks, byte for byte, and its files.
check_guest_boot() {
    local what=$1 boots=$2
    guest_wait_ready "$log" 120 "$boots" || fail "$what: the guest did not boot again"
    [ "$(guest_boots "$log")" = "$boots" ] || fail "$what: $(guest_boots "$log") boots, expected $boots"
    [ "$(guest_disk_sha "$log" vda)" = "$sha_a" ] || fail "$what: the guest's vda differs from the original"
    [ "$(guest_disk_sha "$log" vdb)" = "$sha_b" ] || fail "$what: the guest's vdb differs from the original"
    [ "$(guest_manifest "$log" vda)" = OK ] || fail "$what: the guest's manifest check: $(guest_manifest "$log" vda)"
    diff <(guest_files "$log" vda) "$T/files.expected" >&2 || fail "$what: the guest sees other files"
    echo "boot $boots ready after ${GUEST_ELAPSED}s, disks and files intact"
}

# The VM runs on its originals with its old definition; nothing of ours left.
check_back_on_originals() {
    local what=$1 boots=$2 live
    [ "$(guest_state "$D")" = running ] || fail "$what: $D is $(guest_state "$D"), not running"
    virsh dumpxml --inactive --security-info "$D" >"$T/def.after"
    diff -u "$T/def.before" "$T/def.after" >&2 || fail "$what: the persistent definition changed (diff above)"
    virsh -q domblklist "$D" | awk 'NF { print $1, $2 }' >"$T/blk"
    printf 'vda %s\nvdb %s\n' "$loop_a" "$loop_b" | diff -u - "$T/blk" >&2 ||
        fail "$what: the running VM's disks are not the loop devices (diff above)"
    live=$(virsh dumpxml "$D")
    [[ $live != *"protocol='rbd'"* ]] || fail "$what: the running VM has an RBD disk"
    local imgs
    imgs=$(rbd ls "$POOL" | { grep -- "^${U}-" || true; })
    [ -z "$imgs" ] || fail "$what: images left: $imgs"
    if ceph auth get "client.$CU" >/dev/null 2>&1; then fail "$what: cephx user client.$CU left"; fi
    local secrets
    secrets=$(virsh -q secret-list | { grep -F -- "client.$CU secret" || true; })
    [ -z "$secrets" ] || fail "$what: libvirt secret left: $secrets"
    check_guest_boot "$what" "$boots"
}

# status of the domain: the phase, from the JSON document.
status_phase() {
    run_v2r status "$D" --state-dir "$STATE" --format json
    expect_rc 0
    /usr/bin/python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["migrations"]; print(m[0]["phase"] if m else "none")' "$T/out"
}
status_field() {  # status_field EXPR: a python expression over m (the migration)
    /usr/bin/python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["migrations"][0]; print(eval(sys.argv[2]))' "$T/out" "$1"
}

# --- a) read error on vdb at 8 MiB, mid-copy -----------------------------------
note "a) V2R_FAULT=read-error:vdb@8388608 migrate --shutdown"
t0=$(now_ms)
V2R_FAULT=read-error:vdb@8388608 run_v2r migrate "$D" "${COMMON[@]}" --shutdown
echo "migrate failed after $(( $(now_ms) - t0 )) ms"
expect_rc 4
expect_err "migration of $D failed"
expect_err "source $loop_b at offset 8388608"
expect_err "Input/output error"
expect_err "undone: .*restarted the VM on its original disks"
check_back_on_originals "a) read error" 2
[ "$(status_phase)" = aborted ] || fail "a) status: phase $(status_phase), not aborted"
[[ $(status_field 'm["abort_reason"]') == *"offset 8388608"* ]] || fail "a) status: abort reason $(status_field 'm["abort_reason"]')"
[ "$(status_field '[d["target"] for d in m["disks"] if d["copied"]].count("vdb")')" = 0 ] ||
    fail "a) status says vdb was copied"
run_v2r status --state-dir "$STATE"
expect_rc 0
expect_out "$D .*aborted"

# --- b) failure before the start, after the switch ------------------------------
note "b) V2R_FAULT=before-start=fail migrate --shutdown"
t0=$(now_ms)
V2R_FAULT=before-start=fail run_v2r migrate "$D" "${COMMON[@]}" --shutdown
echo "migrate failed after $(( $(now_ms) - t0 )) ms"
expect_rc 4
expect_err "migration of $D failed: injected failure at before-start"
expect_err "undone: restored the saved definition"
expect_err "restarted the VM on its original disks"
# it got that far: both disks copied and verified, the definition switched
journal="$STATE/domains/$uuid/journal"
[ -f "$journal" ] || fail "b) no journal at $journal"
grep -Eq '"event": ?"switched"' "$journal" || fail "b) the journal records no switch: the failure came too early"
check_back_on_originals "b) before-start" 3
[ "$(status_phase)" = aborted ] || fail "b) status: phase $(status_phase), not aborted"
[ "$(status_field 'sorted(d["target"] for d in m["disks"] if d["digest"] and d["verified"] and d["removed"])')" = "['vda', 'vdb']" ] ||
    fail "b) status: disks $(status_field 'm["disks"]')"

# --- c) virt2rbd killed after a copy, then rollback --------------------------------
note "c) V2R_FAULT=after-copy=crash migrate --shutdown, then rollback"
V2R_FAULT=after-copy=crash run_v2r migrate "$D" "${COMMON[@]}" --shutdown
expect_rc 137    # SIGKILL
[ "$(guest_state "$D")" = "shut off" ] || fail "c) after the crash $D is $(guest_state "$D"), not shut off"
phase=$(status_phase)
[ "$phase" = unfinished ] || fail "c) after the crash the migration is recorded as '$phase', not unfinished"
run_v2r status "$D" --state-dir "$STATE"
expect_rc 0
expect_out "unfinished"
[ -n "$(rbd ls "$POOL" | { grep -- "^${U}-" || true; })" ] || fail "c) no image was created before the crash"
ceph auth get "client.$CU" >/dev/null 2>&1 || fail "c) no cephx user was created before the crash"
[ -n "$(virsh -q secret-list | { grep -F -- "client.$CU secret" || true; })" ] ||
    fail "c) no libvirt secret was defined before the crash"

t0=$(now_ms)
run_v2r rollback "$D" --state-dir "$STATE"
echo "rollback took $(( $(now_ms) - t0 )) ms"
expect_rc 0
expect_out "undone"
expect_out "restarted the VM on its original disks"
check_back_on_originals "c) crash + rollback" 4
[ "$(status_phase)" = aborted ] || fail "c) status after rollback: phase $(status_phase), not aborted"

note "c) a second rollback changes nothing"
run_v2r rollback "$D" --state-dir "$STATE"
expect_rc 0
expect_out "nothing changed"
check_back_on_originals "c) second rollback" 4
