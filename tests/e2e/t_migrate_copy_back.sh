# Rollback after the guest wrote to RBD: refused (it would lose the writes),
# then --copy-back writes the changed extents back to the original LUN,
# verifies it, and the VM runs on its LUN with every acknowledged record.
source "$(dirname "$0")/e2e-lib.sh"

dom=${U}-cb
user=${U}u
own_domain "$dom"
own_user "$user"

mkdir -p "$T/tree"
echo "copy-back test" >"$T/tree/readme"
make_fs_image "$T/fs.img" 24 "$T/tree"
truncate -s $((16 * 1048576)) "$T/rec.img"
lun1=$(attach_loop "$T/fs.img")
lun2=$(attach_loop "$T/rec.img")
# The guest writes numbered, checksummed records to vdb with O_DIRECT+fsync.
guest_define --writer vdb "$dom" "$T" "block:$lun1:vda" "block:$lun2:vdb"
log=$(guest_log "$dom" "$T")
before_xml=$(domain_xml "$dom")

note "migrate the shut-off VM and start it on RBD"
v2r migrate "$dom" --pool "$POOL" --client-user "$user" --start
expect_rc 0
guest_wait_ready "$log" 120
for _ in $(seq 1 100); do
    [ "$(guest_acks "$log" | wc -l)" -ge 30 ] && break
    sleep 0.3
done
[ "$(guest_acks "$log" | wc -l)" -ge 30 ] || fail "the guest acknowledged too few records on RBD"

note "rollback without --copy-back is refused and says how much changed; nothing changes"
v2r rollback "$dom" --shutdown
expect_rc 3
expect_err "changed since the switch"
expect_err "vdb [0-9.]+ [KM]iB"
expect_err "--copy-back"
[ "$(virsh domstate "$dom")" = running ] || fail "a refused rollback stopped the VM"
grep -q "name='$POOL/$dom-vdb'" <<<"$(domain_xml "$dom")" || fail "a refused rollback changed the definition"

note "rollback --copy-back"
v2r rollback "$dom" --shutdown --shutdown-timeout 60 --copy-back --format json
expect_rc 0
python3 - "$T/out" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["changed_bytes"]["vdb"] > 0, r
assert r["migration"]["phase"] == "rolled back", r
assert "copied back" in r["message"], r["message"]
PY
[ "$(domain_xml "$dom")" = "$before_xml" ] || fail "definition not restored exactly"
[ "$(virsh domstate "$dom")" = running ] || fail "VM not running on its LUNs after rollback"
grep -q "$lun2" <<<"$(virsh domblklist "$dom")" || fail "VM does not use its LUN"

note "every record the guest acknowledged on RBD is on the LUN, and the LUN equals the image"
# The guest is writing again (on the LUN now): compare against the last RBD boot's acks.
virsh destroy "$dom" >/dev/null
rbd export --no-progress "$POOL/$dom-vdb@virt2rbd-switch" "$T/at-switch.img" >/dev/null
rbd export --no-progress "$POOL/$dom-vdb" "$T/rbd-vdb.img" >/dev/null
boots=$(guest_boots "$log")
# The log's last boot is the one on the LUN after rollback; check the RBD boot's acks (boot 1).
awk -v n=1 '/V2R-GUEST BOOT/{b++} b==n' "$log" >"$T/rbd-boot.log"
res=$(guest_verify_records "$T/rbd-vdb.img" "$T/rbd-boot.log")
echo "on the image: $res (boots=$boots)"
res_lun=$(guest_verify_records "$lun2" "$T/rbd-boot.log")
echo "on the LUN:   $res_lun"
acked=$(sed -E 's/.*acked=([0-9]+).*/\1/' <<<"$res_lun")
verified=$(sed -E 's/.*verified=([0-9]+).*/\1/' <<<"$res_lun")
[ "$acked" -ge 30 ] && [ "$acked" = "$verified" ] || fail "records lost on the LUN: $res_lun"
