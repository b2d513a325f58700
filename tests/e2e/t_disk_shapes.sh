# Disk shapes of the domain-XML corpus (issue 12), migrated offline with
# their data checked (t_corpus checks only the definitions): a qcow2 image on
# a block device (a loop device here, as a qcow2 logical volume would be)
# read through qemu-nbd with host_device into a flat raw image equal to
# `qemu-img convert -O raw`; a SCSI passthrough disk (device='lun') refused
# naming --lun-as-disk, then moved with it as device='disk' (its rawio
# dropped and listed); a disk on the usb bus; a raw <slice> of a file (only
# the slice copied, the slice in the journal; copy-back into it refused).
# Sources never written; rollback gives back the definition exactly. No
# guest boots.
source "$(dirname "$0")/e2e-lib.sh"

note "the disks: qcow2 on a loop device, a raw LUN on a loop device, a raw file on usb"
qemu-img create -q -f qcow2 "$T/lv.qcow2" 16M
qemu-io -f qcow2 -c 'write -P 0x41 0 1M' -c 'write -P 0x42 9M 256k' -c 'write -z 4M 64k' "$T/lv.qcow2" >/dev/null
qemu-img convert -q -f qcow2 -O raw "$T/lv.qcow2" "$T/ref-lv.raw"
make_islands "$T/lun.raw" $((12 << 20)) 1:128 7:64
make_islands "$T/usb.raw" $((8 << 20)) 0:64 5:256
make_islands "$T/sliced.raw" $((10 << 20)) 0:64 1:512 6:64 9:64   # the slice: 4 MiB at 1 MiB + 4 KiB
dd if="$T/sliced.raw" of="$T/ref-slice.raw" bs=4K skip=257 count=1024 status=none
lv=$(attach_loop "$T/lv.qcow2")
lun=$(attach_loop "$T/lun.raw")
srcs=("$T/lv.qcow2" "$T/lun.raw" "$T/usb.raw" "$T/sliced.raw")
sums_before=$(sha256sum "${srcs[@]}")

dom=${U}-shapes
own_domain "$dom"
user=${U}u
own_user "$user"
cat >"$T/dom.xml" <<XML
<domain type='kvm'>
  <name>$dom</name>
  <memory unit='MiB'>64</memory>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <emulator>$(command -v qemu-system-x86_64)</emulator>
    <disk type='block' device='disk'>
      <driver name='qemu' type='qcow2' cache='none'/>
      <source dev='$lv'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='block' device='lun' rawio='yes'>
      <driver name='qemu' type='raw'/>
      <source dev='$lun'/>
      <target dev='sda' bus='scsi'/>
      <address type='drive' controller='0' bus='0' target='0' unit='0'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='$T/usb.raw'/>
      <target dev='sdb' bus='usb'/>
      <serial>usb-stick-1</serial>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='$T/sliced.raw'>
        <slices>
          <slice type='storage' offset='1052672' size='4194304'/>
        </slices>
      </source>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <controller type='scsi' index='0' model='virtio-scsi'/>
  </devices>
</domain>
XML
virsh define "$T/dom.xml" >/dev/null
before_xml=$(domain_xml "$dom")

note "plan without --lun-as-disk: the LUN is refused, naming the option; nothing changed"
world "$dom" >"$T/w0"
v2r plan "$dom" --pool "$POOL" --client-user "$user"
expect_rc 3
grep -q "disk sda: SCSI passthrough (device='lun') cannot move to RBD.*--lun-as-disk" "$T/out" ||
    { cat "$T/out" >&2; fail "the LUN's refusal does not name --lun-as-disk"; }
v2r migrate "$dom" --pool "$POOL" --client-user "$user" --no-start
expect_rc 3
world "$dom" >"$T/w1"
diff -u "$T/w0" "$T/w1" || fail "a refused migrate changed something"

note "plan with --lun-as-disk: every disk moves, the qcow2 through qemu-nbd, the conversion listed"
v2r plan "$dom" --pool "$POOL" --client-user "$user" --lun-as-disk --format json
expect_rc 0
python3 - "$T/out" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
d = {x["target"]: x for x in p["disks"]}
assert all(d[t]["decision"] == "moves" for t in ("vda", "sda", "sdb", "vdb")), d
assert d["vdb"]["size"] == 4 << 20, d["vdb"]
assert d["vdb"]["read_path"] == "qemu-nbd (raw slice: 4194304 bytes at offset 1052672)", d["vdb"]
assert d["vda"]["read_path"] == "qemu-nbd (qcow2)" and d["vda"]["size"] == 16 << 20, d["vda"]
assert d["sda"]["read_path"] == "direct", d["sda"]
assert any(x.startswith("sda: device='lun'") for x in p["dropped"]), p["dropped"]
assert "sda: <disk rawio='yes'> (lun devices only)" in p["dropped"], p["dropped"]
PY

note "migrate --lun-as-disk: each image holds the guest-visible bytes"
v2r migrate "$dom" --pool "$POOL" --client-user "$user" --lun-as-disk --no-start --verify full
expect_rc 0
for t in vda:"$T/ref-lv.raw" sda:"$T/lun.raw" sdb:"$T/usb.raw" vdb:"$T/ref-slice.raw"; do
    rm -f "$T/got.raw"; rbd export --no-progress "$POOL/$dom-${t%%:*}" "$T/got.raw" >/dev/null
    cmp "$T/got.raw" "${t#*:}" || fail "image $dom-${t%%:*} differs from ${t#*:}"
done
after=$(domain_xml "$dom")
python3 - "$after" <<'PY'
import sys, xml.etree.ElementTree as ET
r = ET.fromstring(sys.argv[1])
d = {x.find("target").get("dev"): x for x in r.iter("disk")}
assert all(d[t].get("type") == "network" for t in d), sys.argv[1]
assert d["sda"].get("device") == "disk" and d["sda"].get("rawio") is None, ET.tostring(d["sda"])
assert d["sdb"].find("target").get("bus") == "usb" and d["sdb"].findtext("serial") == "usb-stick-1"
assert d["sda"].find("address").get("unit") == "0"
PY
[ "$(virsh domstate "$dom")" = "shut off" ] || fail "the domain was started"
journal=$(find "$STATE" -name journal | head -1)
grep -q '"slice":{"offset":1052672,"size":4194304},"source":"'"$T"'/sliced.raw","target":"vdb"' "$journal" ||
    { grep '"disks"' "$journal" >&2; fail "the journal does not record vdb's slice"; }
if pgrep -f "qemu-nbd.*$STATE" >/dev/null; then fail "an export outlived the run"; fi
[ "$(sha256sum "${srcs[@]}")" = "$sums_before" ] || fail "a source was written"

note "rollback: copy-back into the slice refused, nothing changed; then the definition exactly as it was"
rbd bench --io-type write --io-size 4K --io-total 16K "$POOL/$dom-vdb" >/dev/null
world "$dom" >"$T/w0"
v2r rollback "$dom" --copy-back
expect_rc 3
expect_err "disk vdb's original is a slice of $T/sliced.raw \(4194304 bytes at offset 1052672\)"
world "$dom" >"$T/w1"
diff -u "$T/w0" "$T/w1" || fail "a refused rollback changed something"
v2r rollback "$dom" --discard-changes --remove-images
expect_rc 0
[ "$(domain_xml "$dom")" = "$before_xml" ] || fail "definition not restored exactly"
[ "$(sha256sum "${srcs[@]}")" = "$sums_before" ] || fail "a source was written"
