# migrate --live interrupted, while the guest keeps writing: Ctrl-C and an
# injected failure before the pivot each leave the VM running on its LUNs
# with nothing left behind; virt2rbd killed (-9) mid-copy leaves the block
# copies running, and a rerun adopts them and finishes; killed inside the
# pivot's pause (one disk pivoted, the VM paused), a rerun resumes the VM and
# finishes. The VM never stops (same domain id) and no acknowledged record
# is lost.
source "$(dirname "$0")/e2e-lib.sh"

dom=${U}-res
user=${U}u
own_domain "$dom"
own_user "$user"

json() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }
# on_luns: the running VM uses both LUNs, and no block job is left.
on_luns() {
    local blk x
    blk=$(virsh domblklist "$dom")
    grep -q "$lun1" <<<"$blk" && grep -q "$lun2" <<<"$blk" || fail "the VM does not run on its LUNs ($1): $blk"
    x=$(virsh dumpxml "$dom")
    grep -q "<mirror" <<<"$x" && fail "a block job is left ($1)"
    [ "$(virsh domid "$dom")" = "$id0" ] || fail "the VM was restarted ($1)"
    [ "$(virsh domstate "$dom")" = running ] || fail "the VM is not running ($1): $(virsh domstate "$dom")"
    return 0
}
# nothing_left: no image, user or secret of the migration.
nothing_left() {
    [ -z "$(rbd ls "$POOL" | grep "^$dom-" || true)" ] || fail "images left ($1): $(rbd ls "$POOL" | grep "^$dom-")"
    ceph auth get "client.$user" >/dev/null 2>&1 && fail "the cephx user is left ($1)"
    [ -z "$(virsh -q secret-list | grep "client.$user" || true)" ] || fail "the secret is left ($1)"
    return 0
}
# journal_count EVENT: how many EVENT records the journal holds.
journal_count() {
    local j=$STATE/domains/$uuid/journal
    [ -f "$j" ] || { echo 0; return; }
    grep -c "\"event\":\"$1\"" "$j" || true
}
# migrate_in_background ARGS...: starts virt2rbd migrate --live; sets PID.
migrate_in_background() {
    "$V2R_BIN" migrate "$dom" --pool "$POOL" --client-user "$user" --live --state-dir "$STATE" \
        --progress-interval 1 "$@" >"$T/bg.out" 2>"$T/bg.err" &
    PID=$!
}
# wait_copying: until the current journal (a new migration archives a finished
# one) holds two blockcopy-start records and libvirt shows both jobs: both
# copies run (the record is journalled before its copy starts, and starting a
# copy to RBD can take seconds on a loaded machine).
wait_copying() {
    for _ in $(seq 1 300); do
        [ "$(journal_count aborted)" = 0 ] && [ "$(journal_count blockcopy-start)" -ge 2 ] &&
            [ "$(virsh dumpxml "$dom" | grep -c "<mirror")" = 2 ] && return 0
        kill -0 "$PID" 2>/dev/null || { cat "$T/bg.err" >&2; fail "virt2rbd ended before the copies started"; }
        sleep 0.1
    done
    fail "the copies did not start"
}

note "guest: ext4 LUN with 6 MB of data (vda), 32 MiB raw LUN of random data the writer overwrites (vdb)"
mkdir -p "$T/tree"
head -c 6000000 /dev/urandom >"$T/tree/blob.bin"
make_fs_image "$T/fs.img" 24 "$T/tree"
head -c $((32 * 1048576)) /dev/urandom >"$T/rec.img"
lun1=$(attach_loop "$T/fs.img")
lun2=$(attach_loop "$T/rec.img")
guest_define --writer vdb --append "v2r.sha=none" "$dom" "$T" "block:$lun1:vda" "block:$lun2:vdb"
log=$(guest_log "$dom" "$T")
guest_start "$dom"
guest_wait_ready "$log" 180
id0=$(virsh domid "$dom")
uuid=$(virsh domuuid "$dom")

note "Ctrl-C during the copy (--bandwidth 1 MiB/s): undone, the VM stays on its LUNs"
migrate_in_background --bandwidth 1
wait_copying
sleep 2
kill -INT "$PID"
set +e; wait "$PID"; rc=$?; set -e
cat "$T/bg.err" >&2
[ "$rc" = 75 ] || fail "Ctrl-C: expected exit 75, got $rc"
grep -q "interrupted before the pivot" "$T/bg.err" || fail "Ctrl-C: the message does not say so"
on_luns "after Ctrl-C"
nothing_left "after Ctrl-C"

note "an injected failure after the first copy started: undone, exit 4"
V2R_FAULT=blockcopy-start-done=fail v2r migrate "$dom" --pool "$POOL" --client-user "$user" --live
expect_rc 4
expect_err "failed before the pivot"
on_luns "after the injected failure"
nothing_left "after the injected failure"

note "kill -9 during the copy: the copies keep running, the VM stays on its LUNs"
migrate_in_background --bandwidth 1
wait_copying
sleep 2
kill -9 "$PID"
wait "$PID" 2>/dev/null || true
tail -n 2 "$T/bg.err" >&2
[ "$(virsh domid "$dom")" = "$id0" ] || fail "the VM was restarted by the kill"
blk=$(virsh domblklist "$dom")
grep -q "$lun1" <<<"$blk" && grep -q "$lun2" <<<"$blk" || fail "the VM left its LUNs after the kill: $blk"
[ "$(virsh dumpxml "$dom" | grep -c "<mirror")" = 2 ] || fail "expected the two block copies to be left running"
v2r status "$dom"
expect_rc 0
grep -q "unfinished" "$T/out" || fail "status does not say unfinished"

note "rerun: adopts the copies and finishes"
v2r migrate "$dom" --pool "$POOL" --client-user "$user" --live --format json
expect_rc 0
cat "$T/err" >&2
grep -q "taking over the block copy" "$T/err" || fail "the rerun did not adopt the copies"
echo "rerun: $(json "$T/out" 'j["message"]')"
python3 - "$T/out" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["migration"]
assert m["phase"] == "migrated", m
assert all(d["verified"] and d["live"]["snapshot_at_pivot"] for d in m["disks"]), m["disks"]
PY
[ "$(virsh domid "$dom")" = "$id0" ] || fail "the VM was restarted"
for t in vda vdb; do
    grep -q "name='$POOL/$dom-$t'" <<<"$(virsh dumpxml "$dom")" || fail "$t is not on RBD (live)"
    grep -q "name='$POOL/$dom-$t'" <<<"$(virsh dumpxml --inactive "$dom")" || fail "$t is not on RBD (inactive)"
done

note "rollback --live, then killed inside the pivot's pause (vda pivoted, vdb not)"
v2r rollback "$dom" --live --remove-images
expect_rc 0
on_luns "after rollback --live"
V2R_FAULT=pivot:vdb=crash v2r migrate "$dom" --pool "$POOL" --client-user "$user" --live
[ "$RC" = 137 ] || { cat "$T/err" >&2; fail "expected the injected crash (137), got $RC"; }
[ "$(virsh domstate "$dom")" = paused ] || fail "expected the VM paused by the crash, it is $(virsh domstate "$dom")"
v2r migrate "$dom" --pool "$POOL" --client-user "$user" --live --format json
expect_rc 0
echo "rerun: $(json "$T/out" 'j["message"]')"
python3 - "$T/out" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["migration"]
assert m["phase"] == "migrated", m
assert all(d["verified"] and d["live"]["snapshot_at_pivot"] for d in m["disks"]), m["disks"]
PY
[ "$(virsh domid "$dom")" = "$id0" ] || fail "the VM was restarted"
[ "$(virsh domstate "$dom")" = running ] || fail "the VM is not running after the rerun"

note "shut down: every acknowledged record is on the RBD image"
guest_shutdown "$dom" 60
rbd export --no-progress "$POOL/$dom-vdb" "$T/vdb.img" >/dev/null
res=$(guest_verify_records "$T/vdb.img" "$log") || fail "records lost: $res"
echo "on RBD: $res"
