# Image files move (issue 12): a 3-layer qcow2 backing chain, a compressed
# qcow2 and a vmdk, read through qemu-nbd exports virt2rbd owns, each into one
# flat raw image equal to `qemu-img convert -O raw` of it and no fatter than
# qemu-img's own copy into RBD; a raw disk whose bytes are a qcow2 image is
# copied as the raw bytes it holds (the format is libvirt's, never probed).
# The guest reads the same bytes from RBD; no export outlives the run; a
# missing backing file is refused with nothing changed; rollback restores the
# definition: --copy-back writes what changed on RBD into the qcow2's active
# layer through a writable export (guest view equal to the image, qemu-img
# check clean, grown only by the written clusters), --discard-changes goes
# back without writing an image file.
source "$(dirname "$0")/e2e-lib.sh"

qio() { qemu-io -f "$1" "${@:3}" "$2" >/dev/null; }

note "the images: a chain base <- mid <- top, a compressed qcow2, a vmdk, a raw file holding a qcow2"
qemu-img create -q -f qcow2 "$T/base.qcow2" 16M
qio qcow2 "$T/base.qcow2" -c 'write -P 0x11 0 1M' -c 'write -P 0x12 8M 512k'
qemu-img create -q -f qcow2 -b "$T/base.qcow2" -F qcow2 "$T/mid.qcow2"
qio qcow2 "$T/mid.qcow2" -c 'write -P 0x21 512k 256k' -c 'write -z 8M 64k'
qemu-img create -q -f qcow2 -b "$T/mid.qcow2" -F qcow2 "$T/top.qcow2"
qio qcow2 "$T/top.qcow2" -c 'write -P 0x31 12M 128k'
qemu-img snapshot -c before-move "$T/top.qcow2"
head -c 3M /dev/urandom >"$T/rand.raw"; truncate -s 12M "$T/rand.raw"
qemu-img convert -q -c -f raw -O qcow2 "$T/rand.raw" "$T/comp.qcow2"
qemu-img convert -q -f raw -O vmdk "$T/rand.raw" "$T/disk.vmdk"
cp "$T/top.qcow2" "$T/looks-qcow2.raw"   # raw bytes that happen to be a qcow2 header
for f in top comp; do qemu-img convert -q -f qcow2 -O raw "$T/$f.qcow2" "$T/ref-$f.raw"; done
qemu-img convert -q -f vmdk -O raw "$T/disk.vmdk" "$T/ref-vmdk.raw"
chmod o+r "$T"/*.qcow2 "$T"/*.vmdk
sources=("$T/base.qcow2" "$T/mid.qcow2" "$T/top.qcow2" "$T/comp.qcow2" "$T/disk.vmdk" "$T/looks-qcow2.raw")
sums_before=$(sha256sum "${sources[@]}")

dom=${U}-q
own_domain "$dom"
guest_define --append "v2r.sha=vda,vdb,vdc,vdd" "$dom" "$T" "file-qcow2:$T/top.qcow2:vda" \
    "file-qcow2:$T/comp.qcow2:vdb" "file-vmdk:$T/disk.vmdk:vdc" "file:$T/looks-qcow2.raw:vdd"
log=$(guest_log "$dom" "$T")
before_xml=$(domain_xml "$dom")
user=${U}u
own_user "$user"

note "plan: every disk moves, the chain and the read path shown, the internal snapshot named"
v2r plan "$dom" --pool "$POOL" --client-user "$user" --format json
expect_rc 0
python3 - "$T/out" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
d = {x["target"]: x for x in p["disks"]}
assert all(d[t]["decision"] == "moves" for t in ("vda", "vdb", "vdc", "vdd")), d
assert d["vda"]["read_path"] == "qemu-nbd (qcow2 <- qcow2 <- qcow2)", d["vda"]
assert d["vda"]["size"] == 16 << 20 and d["vdb"]["size"] == 12 << 20, d
assert d["vdc"]["read_path"].startswith("qemu-nbd (vmdk"), d["vdc"]
assert d["vdd"]["read_path"] == "direct" and d["vdd"]["format"] == "raw", d["vdd"]
assert any("before-move" in w and "vda" in w for w in p["warnings"]), p["warnings"]
PY

note "a missing backing file: refused, naming it, nothing changed"
bad=${U}-bad
own_domain "$bad"
qemu-img create -q -f qcow2 -b "$T/gone.qcow2" -F qcow2 -u "$T/orphan.qcow2" 16M
chmod o+r "$T/orphan.qcow2"
guest_define "$bad" "$T" "file-qcow2:$T/orphan.qcow2:vda"
world "$bad" >"$T/w0"
v2r migrate "$bad" --pool "$POOL" --client-user "$user" --no-start
expect_rc 3
expect_err "gone.qcow2"
world "$bad" >"$T/w1"
diff -u "$T/w0" "$T/w1" || fail "a refused migrate changed something"

note "migrate: each image equals qemu-img's raw conversion, thin, no export left"
v2r migrate "$dom" --pool "$POOL" --client-user "$user" --no-start --verify full
expect_rc 0
for t in vda:top vdb:comp vdc:vmdk; do
    rm -f "$T/got.raw"; rbd export --no-progress "$POOL/$dom-${t%%:*}" "$T/got.raw" >/dev/null
    cmp "$T/got.raw" "$T/ref-${t##*:}.raw" || fail "image $dom-${t%%:*} differs from qemu-img convert -O raw"
done
rm -f "$T/got.raw"; rbd export --no-progress "$POOL/$dom-vdd" "$T/got.raw" >/dev/null
cmp "$T/got.raw" "$T/looks-qcow2.raw" || fail "the raw disk holding a qcow2 header was not copied as its raw bytes"
qemu-img convert -f qcow2 -O raw "$T/top.qcow2" "rbd:$POOL/${U}-ref:conf=$CEPH_CONF" ||
    fail "qemu-img convert into RBD failed"
used() { rbd du --format json "$POOL/$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["images"][0]["used_size"])'; }
ours=$(used "$dom-vda"); theirs=$(used "${U}-ref")
echo "used: virt2rbd $ours, qemu-img $theirs"
[ "$ours" -le "$theirs" ] || fail "the image is fatter than qemu-img's copy ($ours > $theirs)"
if pgrep -f "qemu-nbd.*$STATE" >/dev/null; then fail "an export outlived the run: $(pgrep -af "qemu-nbd.*$STATE")"; fi
journal=$(find "$STATE" -name journal | head -1)
for e in export-start export-started export-stopped; do
    [ "$(grep -c "\"event\":\"$e\"" "$journal")" = 3 ] || fail "expected 3 $e records in the journal"
done
[ "$(sha256sum "${sources[@]}")" = "$sums_before" ] || fail "a source image was written"

note "the guest reads the same bytes from RBD"
virsh start "$dom" >/dev/null
guest_wait_ready "$log" 180 || fail "the VM did not boot on RBD"
[ "$(guest_disk_sha "$log" vda)" = "$(sha256sum <"$T/ref-top.raw" | cut -d' ' -f1)" ] || { grep V2R-DISK "$log" >&2; sha256sum "$T/ref-top.raw" >&2; fail "vda reads other data"; }
[ "$(guest_disk_sha "$log" vdc)" = "$(sha256sum <"$T/ref-vmdk.raw" | cut -d' ' -f1)" ] || fail "vdc reads other data"
guest_destroy "$dom"

note "rollback --copy-back into the qcow2 chain: the changed extents into its active layer, thin, check clean"
# top's own data clusters (depth 0) before: what the copy-back may add to.
top_data() {
    qemu-img map -f qcow2 --output=json "$T/top.qcow2" |
        python3 -c 'import json,sys; print(sum(e["length"] for e in json.load(sys.stdin) if e["depth"] == 0 and e["data"]))'
}
data0=$(top_data)
qemu-io -f raw -c 'write -P 0x61 0 4k' -c 'write -P 0x62 4100k 8k' -c 'write -z 12M 64k' \
    "rbd:$POOL/$dom-vda:conf=$CEPH_CONF" >/dev/null || fail "qemu-io on rbd: failed"
others=("$T/base.qcow2" "$T/mid.qcow2" "$T/comp.qcow2" "$T/disk.vmdk" "$T/looks-qcow2.raw")
others_before=$(sha256sum "${others[@]}")
rm -f "$T/got.raw" "$T/view.raw"; rbd export --no-progress "$POOL/$dom-vda" "$T/got.raw" >/dev/null
v2r rollback "$dom" --copy-back --remove-images
expect_rc 0
cat "$T/out"
[ "$(domain_xml "$dom")" = "$before_xml" ] || fail "definition not restored exactly"
qemu-img convert -q -f qcow2 -O raw "$T/top.qcow2" "$T/view.raw"
cmp "$T/got.raw" "$T/view.raw" || fail "the guest view of the qcow2 chain differs from the RBD image after copy-back"
cmp -s "$T/view.raw" "$T/ref-top.raw" && fail "the copy-back wrote nothing into the qcow2"
qemu-img check -q -f qcow2 "$T/top.qcow2" || fail "qemu-img check of the qcow2 after copy-back is not clean"
data1=$(top_data)
echo "top layer data: $data0 -> $data1 bytes (4k at 0 and 8k at 4100k written: two 64 KiB clusters; 64k zeroed)"
[ "$data1" -le $((data0 + 2 * 65536)) ] || fail "the active layer grew by more than the written extents' clusters"
[ "$data1" -ge $((data0 + 65536)) ] || fail "the active layer did not take the written extents"
[ "$(sha256sum "${others[@]}")" = "$others_before" ] || fail "a backing file or an unchanged disk was written"
if pgrep -f "qemu-nbd.*$STATE" >/dev/null; then fail "an export outlived the rollback: $(pgrep -af "qemu-nbd.*$STATE")"; fi
rm -f "$T/got.raw" "$T/view.raw"

note "a second migration of the same VM: rollback --discard-changes goes back, the images untouched"
sums_before=$(sha256sum "${sources[@]}")
v2r migrate "$dom" --pool "$POOL" --client-user "$user" --no-start
expect_rc 0
rbd bench --io-type write --io-size 4K --io-total 64K "$POOL/$dom-vda" >/dev/null
v2r rollback "$dom" --discard-changes --remove-images
expect_rc 0
[ "$(domain_xml "$dom")" = "$before_xml" ] || fail "definition not restored exactly"
[ "$(sha256sum "${sources[@]}")" = "$sums_before" ] || fail "a source image was written"
