# The source guard (issue 10): a VM started behind virt2rbd's back while its
# disks are copied (or its changes copied back) is noticed; nothing is
# switched, exit 6, the VM keeps running untouched; once it is stopped again
# a rerun rechecks every chunk and rewrites only those the guest changed.
source "$(dirname "$0")/e2e-lib.sh"

dom=${U}-gs
user=${U}u
own_domain "$dom"
own_user "$user"
pid=
# A migrate or rollback still running when the test fails would go on
# changing what the cleanup removes: stop it first.
_g_cleanup() {
    local rc=$?
    set +e
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    (exit $rc)
    _e2e_cleanup
}
trap _g_cleanup EXIT

# One 48 MiB disk of random data (12 chunks of 4 MiB); the guest's writer
# writes numbered 4 KiB records from its start (chunk 0).
head -c $((48 * 1048576)) /dev/urandom >"$T/vda.img"
lun=$(attach_loop "$T/vda.img")
guest_define --writer vda "$dom" "$T" "block:$lun:vda"
log=$(guest_log "$dom" "$T")
virsh autostart "$dom" >/dev/null
before_xml=$(domain_xml "$dom")
lun_sha() { sha256sum <"$lun" | cut -d' ' -f1; }
image_sha() { rbd export --no-progress "$POOL/$dom-vda" - 2>/dev/null | sha256sum | cut -d' ' -f1; }
# wait_acks N: the guest acknowledged at least N records (in its last boot).
wait_acks() {
    for _ in $(seq 1 200); do
        [ "$(guest_acks "$log" | wc -l)" -ge "$1" ] && return 0
        sleep 0.3
    done
    fail "the guest acknowledged fewer than $1 records"
}
journal_events() { python3 - "$STATE" <<'PY'
import glob, json, sys
for p in glob.glob(sys.argv[1] + "/domains/*/journal"):
    for line in open(p):
        print(json.loads(line.split(" ", 1)[1]).get("event"))
PY
}

note "migrate (slowed to 4 MiB/s); the VM is started with virsh mid-copy"
set +e
"$V2R_BIN" migrate "$dom" --pool "$POOL" --client-user "$user" --bandwidth 4 --state-dir "$STATE" \
    --format json >"$T/out" 2>"$T/err" &
pid=$!
set -e
# Chunk 0 (where the guest will write) and one more recorded as copied.
recorded() { grep -c '"type":"durable"' "$STATE"/domains/*/copy-vda.progress 2>/dev/null || true; }
for _ in $(seq 1 200); do
    n=$(recorded); [ "${n:-0}" -ge 2 ] && grep -q '\[0,\[\[0,' "$STATE"/domains/*/copy-vda.progress && break
    sleep 0.1
done
grep -q '\[0,\[\[0,' "$STATE"/domains/*/copy-vda.progress || fail "chunk 0 was not recorded as copied"
[ "$(virsh dominfo "$dom" | awk '/Autostart/ {print $2}')" = disable ] || fail "autostart is still on during the copy"
virsh start "$dom" >/dev/null
set +e; wait "$pid"; RC=$?; set -e
expect_rc 6
expect_err "ran on its original disks while they were being copied"
expect_err "libvirt reported it (started|resumed)|it is (running|paused)"
expect_err "rerun the same command"
[ "$(virsh domstate "$dom")" = running ] || fail "the VM was not left running"
[ "$(domain_xml "$dom")" = "$before_xml" ] || fail "the definition changed although nothing may be switched"
journal_events | grep -x >/dev/null copy-untrusted || fail "the journal does not record the untrusted copy"
v2r status "$dom"
expect_rc 0
grep -q "not trusted" "$T/out" || { cat "$T/out"; fail "status does not say the copy is not trusted"; }

note "the guest writes to its LUN meanwhile; a rerun while it runs is refused, nothing undone"
guest_wait_ready "$log" 120
wait_acks 20
v2r migrate "$dom" --pool "$POOL" --client-user "$user"
expect_rc 3
expect_err "is running: it was started after this migration began"
rbd info "$POOL/$dom-vda" >/dev/null || fail "the refused rerun removed the image"

note "stopped again, the rerun rechecks every chunk and rewrites only those the guest changed"
virsh destroy "$dom" >/dev/null
acks=$(guest_acks "$log" | tail -n 1)
v2r migrate "$dom" --pool "$POOL" --client-user "$user" --format json
expect_rc 0
python3 - "$T/out" "$acks" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
d = r["migration"]["disks"][0]
last_ack = int(sys.argv[2])
touched = (last_ack + 1) * 4096 // (4 << 20) + 1   # chunks the acked records lie in
print("rechecked", d["chunks_rechecked"], "rewritten", d["chunks_rewritten"], "touched", touched)
assert d["chunks_rechecked"] >= 1, d
# Chunk 0 was recorded before the VM started: at least it differs now; no
# chunk the guest did not touch is rewritten (one more: a record in flight).
assert 1 <= d["chunks_rewritten"] <= touched + 1, d
assert d["chunks_rewritten"] < d["chunks_rechecked"], d
assert r["migration"]["untrusted"] is False, r["migration"]
PY
expect_err "checked against the source again"
[ "$(image_sha)" = "$(lun_sha)" ] || fail "the image differs from the LUN after the rerun"
rbd export --no-progress "$POOL/$dom-vda" "$T/img" >/dev/null
res=$(guest_verify_records "$T/img" "$log")
echo "records on the image: $res"
acked=$(sed -E 's/.*acked=([0-9]+).*/\1/' <<<"$res"); verified=$(sed -E 's/.*verified=([0-9]+).*/\1/' <<<"$res")
[ "$acked" -ge 20 ] && [ "$acked" = "$verified" ] || fail "records the guest wrote mid-copy are missing: $res"
[ "$(virsh dominfo "$dom" | awk '/Autostart/ {print $2}')" = enable ] || fail "autostart was not turned on again"
journal_events | grep -x >/dev/null autostart-disable || fail "autostart was not switched off during the copy"

note "the guest writes on RBD; rollback --copy-back is held at its start and the VM is started meanwhile"
virsh autostart --disable "$dom" >/dev/null
n=$(guest_boots "$log")
virsh start "$dom" >/dev/null
guest_wait_ready "$log" 120 $((n + 1))
wait_acks 20
virsh destroy "$dom" >/dev/null
rbd_xml=$(domain_xml "$dom")
set +e
V2R_FAULT=before-copy-back=sleep:15 "$V2R_BIN" rollback "$dom" --copy-back --state-dir "$STATE" \
    >"$T/out" 2>"$T/err" &
pid=$!
set -e
for _ in $(seq 1 150); do
    journal_events | grep -x >/dev/null copy-back && break
    sleep 0.1
done
journal_events | grep -x >/dev/null copy-back || fail "the copy-back did not begin"
n=$(guest_boots "$log")
virsh start "$dom" >/dev/null
set +e; wait "$pid"; RC=$?; set -e
expect_rc 6
expect_err "ran on RBD while its changes were being copied back"
[ "$(virsh domstate "$dom")" = running ] || fail "the VM was not left running on RBD"
[ "$(domain_xml "$dom")" = "$rbd_xml" ] || fail "the rollback changed the definition although it stopped"
grep -q "name='$POOL/$dom-vda'" <<<"$(virsh dumpxml "$dom")" || fail "the running VM is not on RBD"

note "stopped again, the rollback reruns and the LUN gets every record"
guest_wait_ready "$log" 120 $((n + 1))
wait_acks 10
virsh destroy "$dom" >/dev/null
v2r rollback "$dom" --copy-back
expect_rc 0
[ "$(domain_xml "$dom")" = "$before_xml" ] || { diff <(echo "$before_xml") <(domain_xml "$dom") >&2 || true; fail "definition not restored"; }
res=$(guest_verify_records "$lun" "$log")
echo "records on the LUN: $res"
acked=$(sed -E 's/.*acked=([0-9]+).*/\1/' <<<"$res"); verified=$(sed -E 's/.*verified=([0-9]+).*/\1/' <<<"$res")
[ "$acked" -ge 10 ] && [ "$acked" = "$verified" ] || fail "records written on RBD are missing from the LUN: $res"

note "virt2rbd killed mid-copy, the VM started and written while no virt2rbd runs: the rerun does not trust what was recorded"
dom2=${U}-gk
own_domain "$dom2"
head -c $((48 * 1048576)) /dev/urandom >"$T/vdb.img"
lun2=$(attach_loop "$T/vdb.img")
guest_define --writer vda "$dom2" "$T" "block:$lun2:vda"
log2=$(guest_log "$dom2" "$T")
"$V2R_BIN" migrate "$dom2" --pool "$POOL" --client-user "$user" --bandwidth 4 --state-dir "$STATE" \
    >"$T/out" 2>"$T/err" &
pid=$!
prog2() { grep -l "\"image\":\"$dom2-vda\"" "$STATE"/domains/*/copy-vda.progress 2>/dev/null | head -n 1 || true; }
for _ in $(seq 1 200); do
    f=$(prog2); [ -n "$f" ] && grep -q '\[0,\[\[0,' "$f" && break
    sleep 0.1
done
f=$(prog2); [ -n "$f" ] && grep -q '\[0,\[\[0,' "$f" || fail "chunk 0 of $dom2 was not recorded as copied"
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
virsh start "$dom2" >/dev/null
guest_wait_ready "$log2" 120
log=$log2 wait_acks 20
virsh destroy "$dom2" >/dev/null
v2r migrate "$dom2" --pool "$POOL" --client-user "$user" --format json
expect_rc 0
python3 - "$T/out" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["migration"]["disks"][0]
print("rechecked", d["chunks_rechecked"], "rewritten", d["chunks_rewritten"])
assert d["chunks_rechecked"] >= 1 and 1 <= d["chunks_rewritten"] <= 2, d
PY
rbd export --no-progress "$POOL/$dom2-vda" "$T/img2" >/dev/null
cmp -s "$T/img2" "$lun2" || fail "the image of $dom2 differs from its LUN"
res=$(guest_verify_records "$T/img2" "$log2")
echo "records on the image: $res"
acked=$(sed -E 's/.*acked=([0-9]+).*/\1/' <<<"$res"); verified=$(sed -E 's/.*verified=([0-9]+).*/\1/' <<<"$res")
[ "$acked" -ge 20 ] && [ "$acked" = "$verified" ] || fail "records written while no virt2rbd ran are missing: $res"
