# migrate --live and rollback --live on a running guest that keeps writing:
# a two-disk guest (vda an ext4 LUN, vdb a raw LUN the writer fills with
# numbered, checksummed O_DIRECT+fsync records) moves to RBD without stopping
# (same domain id), both definitions end up on RBD, the pivot adds at most
# 1 s to the largest heartbeat gap (host time), every acknowledged record is
# on the RBD image, the images are no fatter than an offline copy, and
# rollback --live brings the running guest back onto its LUNs, again without
# stopping, with every record it acknowledged on RBD.
source "$(dirname "$0")/e2e-lib.sh"

dom=${U}-live
user=${U}u
own_domain "$dom"
own_user "$user"

# json FILE EXPR: a value of the JSON document in FILE (python expression on `j`).
json() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }
# stat_of "beats=.. max_ms=.." KEY
stat_of() { sed -E "s/.*$2=([0-9]+).*/\1/" <<<"$1"; }
# du_used IMAGE [SNAP]: used bytes of the image's head (or of SNAP), per `rbd du`.
du_used() {
    rbd du --format json "$1" 2>/dev/null | python3 -c '
import json, sys
snap = sys.argv[1]
for e in json.load(sys.stdin)["images"]:
    if e.get("snapshot", "") == snap:
        print(e["used_size"]); break
else:
    sys.exit("no entry for snapshot %r" % snap)' "${2:-}"
}

note "guest: ext4 LUN (vda) and a raw LUN (vdb) the writer fills"
mkdir -p "$T/tree"
echo "live migration of $dom" >"$T/tree/motd"
head -c 3000000 /dev/urandom >"$T/tree/blob.bin"
make_fs_image "$T/fs.img" 32 "$T/tree"
truncate -s $((40 * 1048576)) "$T/rec.img"
lun1=$(attach_loop "$T/fs.img")
lun2=$(attach_loop "$T/rec.img")
guest_define --writer vdb --append "v2r.sha=none" "$dom" "$T" "block:$lun1:vda" "block:$lun2:vdb"
log=$(guest_log "$dom" "$T")
before_xml=$(domain_xml "$dom")
guest_start "$dom"
guest_wait_ready "$log" 180
for _ in $(seq 1 100); do [ "$(guest_acks "$log" | wc -l)" -ge 20 ] && break; sleep 0.3; done
id0=$(virsh domid "$dom")

note "plan --live of the running VM: would proceed, no stop"
v2r plan "$dom" --pool "$POOL" --client-user "$user" --live
expect_rc 0
grep -q "keeps running" "$T/out" || fail "plan --live does not say the VM keeps running"

note "migrate --live with --shutdown is a usage error"
v2r migrate "$dom" --pool "$POOL" --client-user "$user" --live --shutdown
expect_rc 2

note "migrate --live, heartbeats stamped with host time"
guest_watch_start "$log" "$T/hb"
sleep 4
t0=$(date +%s%3N)
v2r migrate "$dom" --pool "$POOL" --client-user "$user" --live --format json
t1=$(date +%s%3N)
expect_rc 0
sleep 4
guest_watch_stop
cp "$T/out" "$T/migrate.json"
cat "$T/err" >&2
echo "migrate --live took $((t1 - t0)) ms: $(json "$T/migrate.json" 'j["message"]')"
[ "$(virsh domid "$dom")" = "$id0" ] || fail "the VM was restarted (id $id0 -> $(virsh domid "$dom"))"
[ "$(virsh domstate "$dom")" = running ] || fail "the VM is not running"
python3 - "$T/migrate.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["migration"]
assert m["phase"] == "migrated" and m["mode"] == "live", m
for d in m["disks"]:
    assert d["verified"] and d["digest"].startswith("xxh3-128-4m:"), d
    assert d["live"]["pivoted"] and d["live"]["snapshot_at_pivot"] and d["live"]["sparsified"], d
    assert d["rollback_snapshot"], d
assert m["live"]["paused_ms"] > 0, m["live"]
PY

note "both definitions on RBD"
for flags in "--inactive" ""; do
    # shellcheck disable=SC2086
    x=$(virsh dumpxml $flags "$dom")
    for t in vda vdb; do
        grep -q "name='$POOL/$dom-$t'" <<<"$x" || fail "$t is not on RBD in the ${flags:-live} XML"
    done
    grep -q "username='$user'" <<<"$x" || fail "no auth username in the ${flags:-live} XML"
    grep -q "<mirror" <<<"$x" && fail "a block job is left in the ${flags:-live} XML"
done

note "heartbeat gaps (host time): around the pivot vs elsewhere"
pb=$(json "$T/migrate.json" 'j["migration"]["live"]["pause_begin_ms"]')
pe=$(json "$T/migrate.json" 'j["migration"]["live"]["pause_end_ms"]')
around=$(guest_watch_hb_stats "$T/hb" "$pb" $((pe + 1000)))
before=$(guest_watch_hb_stats "$T/hb" 0 $((pb - 1)))
after=$(guest_watch_hb_stats "$T/hb" $((pe + 1001)))
echo "pause: $((pe - pb)) ms ($(json "$T/migrate.json" 'round(j["migration"]["live"]["paused_ms"])') ms measured by virt2rbd)"
echo "around the pivot: $around"
echo "before:           $before"
echo "after:            $after"
gap_pivot=$(stat_of "$around" max_ms)
gap_other=$(stat_of "$before" max_ms)
[ "$(stat_of "$after" max_ms)" -gt "$gap_other" ] && gap_other=$(stat_of "$after" max_ms)
echo "largest gap around the pivot ${gap_pivot} ms, elsewhere ${gap_other} ms: the pivot adds $((gap_pivot - gap_other)) ms"
[ $((gap_pivot - gap_other)) -le 1000 ] || fail "the pivot added more than 1 s to the heartbeat gap"

note "shut down; every acknowledged record is on the RBD image"
guest_shutdown "$dom" 60
rbd export --no-progress "$POOL/$dom-vdb" "$T/vdb.img" >/dev/null
res=$(guest_verify_records "$T/vdb.img" "$log") || fail "records lost on RBD: $res"
echo "on RBD: $res"
acked=$(sed -E 's/.*acked=([0-9]+).*/\1/' <<<"$res")
[ "$acked" -ge 20 ] || fail "too few records acknowledged: $res"

note "space: the rollback snapshot no more than an offline copy of the LUN, the head no more than its data"
for t in vda vdb; do
    dev=$lun1; [ $t = vdb ] && dev=$lun2
    rm -f "$T/head.img"
    rbd export --no-progress "$POOL/$dom-$t" "$T/head.img" >/dev/null
    snap_used=$(du_used "$POOL/$dom-$t" virt2rbd-switch)
    head_used=$(du_used "$POOL/$dom-$t")
    snap_limit=$(data_objects_bytes "$dev")
    head_limit=$(data_objects_bytes "$T/head.img")
    echo "$t: sparsify $(json "$T/migrate.json" "[d['live'] for d in j['migration']['disks'] if d['target']=='$t'][0]['used_before_sparsify']") -> $(json "$T/migrate.json" "[d['live'] for d in j['migration']['disks'] if d['target']=='$t'][0]['used_after_sparsify']") bytes; rbd du: snapshot $snap_used (offline bound $snap_limit), head $head_used (bound $head_limit)"
    [ "$snap_used" -le "$snap_limit" ] || fail "$t: the snapshot uses $snap_used bytes, more than an offline copy ($snap_limit)"
    [ "$head_used" -le "$head_limit" ] || fail "$t: the image head uses $head_used bytes, more than its data ($head_limit)"
done
rm -f "$T/head.img" "$T/vdb.img"

note "rollback --live of a stopped VM is refused, nothing changed"
v2r rollback "$dom" --live
expect_rc 3
expect_err "needs it running"

note "start on RBD, then rollback --live: back on the LUNs without stopping"
n=$(guest_boots "$log")
guest_start "$dom"
guest_wait_ready "$log" 180 $((n + 1))
for _ in $(seq 1 100); do [ "$(guest_acks "$log" | wc -l)" -ge 20 ] && break; sleep 0.3; done
id1=$(virsh domid "$dom")
guest_watch_start "$log" "$T/hb2"
sleep 2
v2r rollback "$dom" --live --remove-images --format json
expect_rc 0
sleep 2
guest_watch_stop
cat "$T/err" >&2
echo "rollback --live: $(json "$T/out" 'j["message"]')"
echo "heartbeats during the rollback: $(guest_watch_hb_stats "$T/hb2")"
[ "$(virsh domid "$dom")" = "$id1" ] || fail "the VM was restarted by the rollback"
blk=$(virsh domblklist "$dom")
grep -q "$lun1" <<<"$blk" && grep -q "$lun2" <<<"$blk" || fail "the VM does not run on its LUNs: $blk"
[ "$(domain_xml "$dom")" = "$before_xml" ] || { diff <(echo "$before_xml") <(domain_xml "$dom"); fail "definition not restored exactly"; }
[ -z "$(rbd ls "$POOL" | grep "^$dom-" || true)" ] || fail "--remove-images left images"
ceph auth get "client.$user" >/dev/null 2>&1 && fail "the user created by the migration was not removed"
[ -z "$(virsh -q secret-list | grep "client.$user" || true)" ] || fail "the secret was not removed"

note "every record the guest acknowledged (on RBD, then on the LUN) is on the LUN"
virsh destroy "$dom" >/dev/null
res=$(guest_verify_records "$lun2" "$log") || fail "records lost on the LUN: $res"
echo "on the LUN: $res"
