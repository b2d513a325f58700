# Environment faults stop resumable, never undo (issue 10): libvirtd
# restarted mid-copy (the migration completes, every disk rechecked, nothing
# rewritten), libvirtd away past --libvirt-timeout (exit 75, the rerun
# resumes without copying again), the state dir's filesystem full mid-copy
# (exit 75 naming it, the rerun resumes from the recorded progress). On a
# libvirtd of the test's own, so the machine's is never disturbed.
source "$(dirname "$0")/e2e-lib.sh"
source "$(dirname "$0")/private-libvirt.sh"

pid=
_tf_cleanup() {
    local rc=$?
    set +e
    # A migrate still running (the test failed while it ran) would go on
    # changing what the cleanup removes.
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    umount -l "$T/statefs" 2>/dev/null
    plv_down
    (exit $rc)
    _e2e_cleanup
}
trap _tf_cleanup EXIT

plv_up "$T/plv" || fail "could not start a private libvirtd"
export LIBVIRT_DEFAULT_URI=$PLV_URI
user=${U}u
own_user "$user"
guest_build

# new_vm NAME: a shut-off domain on a 48 MiB LUN of random data (12 chunks); sets LUN.
new_vm() {
    head -c $((48 * 1048576)) /dev/urandom >"$T/$1.img"
    LUN=$(attach_loop "$T/$1.img")
    own_domain "$1"
    guest_define "$1" "$T" "block:$LUN:vda" >/dev/null
}
events() { python3 - "$1" <<'PY'
import glob, json, sys
for p in glob.glob(sys.argv[1] + "/domains/*/journal"):
    for line in open(p):
        print(json.loads(line.split(" ", 1)[1]).get("event"))
PY
}
# wait_recorded DIR N: the copy recorded N flushes of progress.
wait_recorded() {
    local n
    for _ in $(seq 1 300); do
        n=$(cat "$1"/domains/*/copy-vda.progress 2>/dev/null | grep -c '"type":"durable"' || true)
        [ "${n:-0}" -ge "$2" ] && return 0
        sleep 0.1
    done
    fail "the copy recorded no progress"
}
same_as_lun() { # IMAGE LUN
    [ "$(rbd export --no-progress "$POOL/$1" - 2>/dev/null | sha256sum)" = "$(sha256sum <"$2")" ]
}
# check_json FILE PYTHON-ASSERTIONS (d: the first disk, m: the migration)
check_json() { python3 -c "
import json, sys
r = json.load(open('$1')); m = r['migration']; d = m['disks'][0]
print('rechecked', d['chunks_rechecked'], 'rewritten', d['chunks_rewritten'])
$2"; }

note "libvirtd restarted mid-copy: the migration goes on, rechecks and completes"
dom=${U}-lr
new_vm "$dom"
set +e
"$V2R_BIN" migrate "$dom" --pool "$POOL" --client-user "$user" --bandwidth 4 --state-dir "$STATE/a" \
    --format json >"$T/out" 2>"$T/err" &
pid=$!
set -e
wait_recorded "$STATE/a" 2
plv_stop_libvirtd
sleep 3
plv_start_libvirtd
set +e; wait "$pid"; RC=$?; set -e
expect_rc 0
expect_err "lost the connection to libvirt"
expect_err "checking every disk against its source again"
check_json "$T/out" "assert d['chunks_rewritten'] == 0 and d['chunks_rechecked'] == 12, d; assert m['phase'] == 'migrated'"
same_as_lun "$dom-vda" "$LUN" || fail "image differs from the LUN"
grep -q "name='$POOL/$dom-vda'" <<<"$(domain_xml "$dom")" || fail "the definition was not switched"

note "libvirtd away past --libvirt-timeout: exit 75, nothing undone; back, the rerun resumes without copying again"
dom=${U}-lt
new_vm "$dom"
set +e
"$V2R_BIN" migrate "$dom" --pool "$POOL" --client-user "$user" --bandwidth 8 --libvirt-timeout 5 \
    --state-dir "$STATE/b" >"$T/out" 2>"$T/err" &
pid=$!
set -e
wait_recorded "$STATE/b" 2
plv_stop_libvirtd
set +e; wait "$pid"; RC=$?; set -e
expect_rc 75
tail -n 2 "$T/err"
expect_err "libvirt .* did not answer (for 5 s|again within 5 s)"
expect_err "rerun the same command"
events "$STATE/b" | grep -x aborted >/dev/null && fail "the migration was undone"
rbd info "$POOL/$dom-vda" >/dev/null || fail "the image was removed"
ceph auth get "client.$user" >/dev/null 2>&1 || fail "the cephx user was removed"
plv_start_libvirtd
v2r_b() { run_v2r "$@" --state-dir "$STATE/b"; }
v2r_b migrate "$dom" --pool "$POOL" --client-user "$user" --format json
expect_rc 0
check_json "$T/out" "assert d['chunks_rewritten'] == 0 and d['chunks_rechecked'] == 12 and d['bytes_copied'] == 0, d"
same_as_lun "$dom-vda" "$LUN" || fail "image differs from the LUN"

note "the state dir's filesystem full mid-copy: exit 75 naming it, nothing undone; with room the rerun resumes"
dom=${U}-sf
new_vm "$dom"
# ext2 with 1 KiB blocks: an append to the progress file needs a new block
# every few records (tmpfs would give a page of slack).
mkdir -p "$T/statefs"
truncate -s 4M "$T/statefs.img"
mkfs.ext2 -q -b 1024 "$T/statefs.img"
mount -o loop "$T/statefs.img" "$T/statefs"
set +e
"$V2R_BIN" migrate "$dom" --pool "$POOL" --client-user "$user" --bandwidth 4 --state-dir "$T/statefs/s" \
    >"$T/out" 2>"$T/err" &
pid=$!
set -e
wait_recorded "$T/statefs/s" 2
dd if=/dev/zero of="$T/statefs/fill" bs=1k 2>/dev/null || true
set +e; wait "$pid"; RC=$?; set -e
expect_rc 75
tail -n 2 "$T/err"
expect_err "No space left on device"
expect_err "filesystem of $T/statefs/s/domains/[0-9a-f-]+ is full or failing"
expect_err "nothing was undone"
rbd info "$POOL/$dom-vda" >/dev/null || fail "the image was removed"
ceph auth get "client.$user" >/dev/null 2>&1 || fail "the cephx user was removed"
done_before=$(grep -c '"type":"durable"' "$T"/statefs/s/domains/*/copy-vda.progress)
rm -f "$T/statefs/fill"
run_v2r migrate "$dom" --pool "$POOL" --client-user "$user" --state-dir "$T/statefs/s" --format json
expect_rc 0
events "$T/statefs/s" | grep -x copy-resume >/dev/null || fail "the rerun did not resume"
check_json "$T/out" "assert d['chunks_rewritten'] == 0 and d['chunks_rechecked'] >= $done_before and d['bytes_copied'] < 48 << 20, d"
same_as_lun "$dom-vda" "$LUN" || fail "image differs from the LUN"
