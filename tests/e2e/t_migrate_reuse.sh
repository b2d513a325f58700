# A pre-existing cephx user with other caps and a pre-existing secret are
# reused (caps kept, same secret uuid); a user without access is refused with
# the command to run, and --update-caps adds the pool grant keeping its caps.
# On the lab's three monitors: all three go into the XML and the VM starts
# with one of them down.
source "$(dirname "$0")/e2e-lib.sh"

mkdir -p "$T/tree"
echo "reuse" >"$T/tree/f"
make_fs_image "$T/fs.img" 16 "$T/tree"
make_fs_image "$T/fs2.img" 16 "$T/tree"
lun=$(attach_loop "$T/fs.img")
lun2=$(attach_loop "$T/fs2.img")

note "user with extra caps and a secret defined beforehand: both reused"
ok_user=${U}ok
own_user "$ok_user"
ceph auth get-or-create "client.$ok_user" mon 'profile rbd' osd "profile rbd pool=$POOL, allow r pool=nonexistent" mgr 'profile rbd' >/dev/null
caps_before=$(ceph auth get "client.$ok_user" 2>/dev/null | grep caps | sort)
cat >"$T/secret.xml" <<XML
<secret ephemeral='no' private='yes'><usage type='ceph'><name>client.$ok_user secret</name></usage></secret>
XML
secret_uuid=$(virsh secret-define "$T/secret.xml" | awk '{print $2}')
dom=${U}-re
own_domain "$dom"
guest_define "$dom" "$T" "block:$lun:vda"
log=$(guest_log "$dom" "$T")
v2r plan "$dom" --pool "$POOL" --client-user "$ok_user" --format json
expect_rc 0
python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); assert p["user"]["action"]=="reuse" and p["secret"]["action"]=="reuse" and p["secret"]["uuid"]==sys.argv[2], p' "$T/out" "$secret_uuid"
v2r migrate "$dom" --pool "$POOL" --client-user "$ok_user" --no-start
expect_rc 0
[ "$(ceph auth get "client.$ok_user" 2>/dev/null | grep caps | sort)" = "$caps_before" ] || fail "the caps of a reused user changed"
[ "$(virsh -q secret-list | grep -c "client.$ok_user secret")" = 1 ] || fail "a second secret was defined"
grep -q "uuid='$secret_uuid'" <<<"$(domain_xml "$dom")" || fail "the XML does not use the existing secret"
[ "$(grep -c "<host name=" <<<"$(domain_xml "$dom")")" = 3 ] || fail "not all three monitors are in the XML"

note "the VM starts with one monitor down"
"$V2R_SRC/scripts/lab" stop "$LAB" mon.c >/dev/null
trap_mon() { "$V2R_SRC/scripts/lab" start "$LAB" mon.c >/dev/null 2>&1 || true; }
virsh start "$dom" >/dev/null
guest_wait_ready "$log" 120 || { trap_mon; fail "the VM did not boot from RBD with mon.c down"; }
trap_mon
[ "$(guest_disk_sha "$log" vda)" = "$(sha256sum <"$lun" | cut -d' ' -f1)" ] || fail "the VM read other data"
guest_destroy "$dom"

note "user without access: refused with the command; --update-caps adds the grant and keeps its caps"
no_user=${U}no
own_user "$no_user"
ceph auth get-or-create "client.$no_user" mon 'allow r' osd 'allow r pool=nonexistent' >/dev/null
dom2=${U}-up
own_domain "$dom2"
guest_define "$dom2" "$T" "block:$lun2:vda"
world "$dom2" >"$T/w0"
v2r migrate "$dom2" --pool "$POOL" --client-user "$no_user" --no-start
expect_rc 3
expect_err "client.$no_user exists but has no RBD access"
expect_err "ceph auth caps client.$no_user"
world "$dom2" >"$T/w1"
diff -u "$T/w0" "$T/w1" || fail "a refused migrate changed something"
v2r migrate "$dom2" --pool "$POOL" --client-user "$no_user" --no-start --update-caps
expect_rc 0
caps=$(ceph auth get "client.$no_user" 2>/dev/null | grep caps)
grep -q "allow r pool=nonexistent" <<<"$caps" || fail "--update-caps lost a cap: $caps"
grep -q "profile rbd pool=$POOL" <<<"$caps" || fail "--update-caps did not grant the pool: $caps"
