# Image files move live (issue 12): a running TCG guest whose disks are qcow2
# images with backing files (vda a 3-layer chain it only reads, vdb a qcow2
# over a qcow2 its writer fills with numbered, checksummed records) moves to
# RBD with --live without stopping (same domain id): qemu's mirror flattens
# each chain, the verification after the pivot reads the chain through a
# journalled read-only qemu-nbd export (started, stopped, none left), the
# rollback snapshot equals `qemu-img convert -O raw` of the chain, no fatter
# than qemu-img's own copy into RBD; the guest keeps writing on RBD and every
# acknowledged record is there; after a restart it reads vda's bytes from RBD.
# rollback --live into a qcow2 is refused with the reason, nothing changed;
# an offline rollback goes back and the image files were never written.
source "$(dirname "$0")/e2e-lib.sh"

qio() { qemu-io -f "$1" "${@:3}" "$2" >/dev/null; }
json() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }
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

note "the images: vda base <- mid <- top (16 MiB), vdb wbase <- wtop (40 MiB, data past the writer's reach)"
qemu-img create -q -f qcow2 "$T/base.qcow2" 16M
qio qcow2 "$T/base.qcow2" -c 'write -P 0x11 0 1M' -c 'write -P 0x12 8M 512k'
qemu-img create -q -f qcow2 -b "$T/base.qcow2" -F qcow2 "$T/mid.qcow2"
qio qcow2 "$T/mid.qcow2" -c 'write -P 0x21 512k 256k' -c 'write -z 8M 64k'
qemu-img create -q -f qcow2 -b "$T/mid.qcow2" -F qcow2 "$T/top.qcow2"
qio qcow2 "$T/top.qcow2" -c 'write -P 0x31 12M 128k'
qemu-img create -q -f qcow2 "$T/wbase.qcow2" 40M
qio qcow2 "$T/wbase.qcow2" -c 'write -P 0x41 36M 1M' -c 'write -P 0x42 0 64k'
qemu-img create -q -f qcow2 -b "$T/wbase.qcow2" -F qcow2 "$T/wtop.qcow2"
qio qcow2 "$T/wtop.qcow2" -c 'write -P 0x51 38M 256k'
qemu-img convert -q -f qcow2 -O raw "$T/top.qcow2" "$T/ref-vda.raw"
chmod o+r "$T"/*.qcow2
sources=("$T/base.qcow2" "$T/mid.qcow2" "$T/top.qcow2" "$T/wbase.qcow2" "$T/wtop.qcow2")

dom=${U}-ql
user=${U}u
own_domain "$dom"
own_user "$user"
guest_define --writer vdb --append "v2r.sha=vda" "$dom" "$T" "file-qcow2:$T/top.qcow2:vda" \
    "file-qcow2:$T/wtop.qcow2:vdb"
log=$(guest_log "$dom" "$T")
before_xml=$(domain_xml "$dom")
guest_start "$dom"
guest_wait_ready "$log" 180
for _ in $(seq 1 100); do [ "$(guest_acks "$log" | wc -l)" -ge 20 ] && break; sleep 0.3; done
id0=$(virsh domid "$dom")

note "plan --live: both qcow2 disks move, read through qemu-nbd for the verification"
v2r plan "$dom" --pool "$POOL" --client-user "$user" --live --format json
expect_rc 0
python3 - "$T/out" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
d = {x["target"]: x for x in p["disks"]}
assert d["vda"]["decision"] == "moves" and d["vdb"]["decision"] == "moves", d
assert d["vda"]["read_path"] == "qemu-nbd (qcow2 <- qcow2 <- qcow2)", d["vda"]
assert d["vdb"]["read_path"] == "qemu-nbd (qcow2 <- qcow2)", d["vdb"]
assert d["vda"]["size"] == 16 << 20 and d["vdb"]["size"] == 40 << 20, d
PY

note "migrate --live while the guest writes"
t0=$(date +%s%3N)
v2r migrate "$dom" --pool "$POOL" --client-user "$user" --live --format json
t1=$(date +%s%3N)
expect_rc 0
cp "$T/out" "$T/migrate.json"
echo "migrate --live took $((t1 - t0)) ms: $(json "$T/migrate.json" 'j["message"]')"
[ "$(virsh domid "$dom")" = "$id0" ] || fail "the VM was restarted (id $id0 -> $(virsh domid "$dom"))"
[ "$(virsh domstate "$dom")" = running ] || fail "the VM is not running"
python3 - "$T/migrate.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["migration"]
assert m["phase"] == "migrated" and m["mode"] == "live", m
for d in m["disks"]:
    assert d["verified"] and d["digest"].startswith("xxh3-128-4m:"), d
    assert d["live"]["pivoted"] and d["live"]["snapshot_at_pivot"], d
PY
for flags in "--inactive" ""; do
    # shellcheck disable=SC2086
    x=$(virsh dumpxml $flags "$dom")
    for t in vda vdb; do grep -q "name='$POOL/$dom-$t'" <<<"$x" || fail "$t is not on RBD in the ${flags:-live} XML"; done
    grep -q "qcow2" <<<"$x" && fail "the ${flags:-live} XML still names a qcow2"
done
sums_after=$(sha256sum "${sources[@]}")

note "the verification read each chain through a journalled export, none left"
journal=$(find "$STATE" -name journal | head -1)
for e in export-start export-started export-stopped; do
    [ "$(grep -c "\"event\":\"$e\"" "$journal")" = 2 ] || fail "expected 2 $e records in the journal"
done
if pgrep -f "qemu-nbd.*$STATE" >/dev/null; then fail "an export outlived the run: $(pgrep -af "qemu-nbd.*$STATE")"; fi

note "the rollback snapshot equals qemu-img convert -O raw of each chain, and is thin"
for t in vda:top vdb:wtop; do
    img=$POOL/$dom-${t%%:*}
    qemu-img convert -q -f qcow2 -O raw "$T/${t##*:}.qcow2" "$T/ref.raw"
    rm -f "$T/got.raw"; rbd export --no-progress "$img@virt2rbd-switch" "$T/got.raw" >/dev/null
    cmp "$T/got.raw" "$T/ref.raw" || fail "$img at the pivot differs from qemu-img convert -O raw of its chain"
    ref=${U}-ref-${t%%:*}
    qemu-img convert -f qcow2 -O raw "$T/${t##*:}.qcow2" "rbd:$POOL/$ref:conf=$CEPH_CONF" ||
        fail "qemu-img convert into RBD failed"
    ours=$(du_used "$img" virt2rbd-switch); theirs=$(du_used "$POOL/$ref")
    echo "${t%%:*}: used at the pivot: virt2rbd $ours, qemu-img $theirs"
    [ "$ours" -le "$theirs" ] || fail "$img is fatter than qemu-img's copy ($ours > $theirs)"
done
rm -f "$T/got.raw" "$T/ref.raw"

note "the guest keeps writing, now on RBD"
n0=$(guest_acks "$log" | wc -l)
for _ in $(seq 1 100); do [ "$(guest_acks "$log" | wc -l)" -ge $((n0 + 20)) ] && break; sleep 0.3; done
n1=$(guest_acks "$log" | wc -l)
[ "$n1" -ge $((n0 + 20)) ] || fail "the guest stopped writing after the move ($n0 -> $n1 records)"
echo "records acknowledged: $n0 at the end of the migration, $n1 now"

note "rollback --live into a qcow2: refused with the reason, nothing changed"
world "$dom" >"$T/w0"
v2r rollback "$dom" --live
expect_rc 3
expect_err "qcow2 image"
world "$dom" >"$T/w1"
diff -u "$T/w0" "$T/w1" || fail "a refused rollback --live changed something"
[ "$(virsh domid "$dom")" = "$id0" ] || fail "the refused rollback restarted the VM"

note "shut down: every acknowledged record is on RBD"
guest_shutdown "$dom" 60
rbd export --no-progress "$POOL/$dom-vdb" "$T/vdb.img" >/dev/null
res=$(guest_verify_records "$T/vdb.img" "$log") || fail "records lost on RBD: $res"
echo "on RBD: $res"
rm -f "$T/vdb.img"

note "restarted on RBD, the guest reads vda's chain bytes"
n=$(guest_boots "$log")
guest_start "$dom"
guest_wait_ready "$log" 180 $((n + 1)) || fail "the VM did not boot on RBD"
want=$(sha256sum <"$T/ref-vda.raw" | cut -d' ' -f1)
[ "$(guest_disk_sha "$log" vda)" = "$want" ] || { grep V2R-DISK "$log" >&2; fail "vda reads other data on RBD"; }
guest_destroy "$dom"

note "offline rollback: back on the image files, definition exact, the image files never written"
v2r rollback "$dom" --discard-changes --remove-images
expect_rc 0
[ "$(domain_xml "$dom")" = "$before_xml" ] || { diff <(echo "$before_xml") <(domain_xml "$dom"); fail "definition not restored exactly"; }
[ -z "$(rbd ls "$POOL" | grep "^$dom-" || true)" ] || fail "--remove-images left images"
[ "$(sha256sum "${sources[@]}")" = "$sums_after" ] || fail "an image file was written after the pivot"
