# The main scenario of `virt2rbd migrate`: a running two-disk guest on
# loop-device "LUNs" of odd sizes, migrated with --shutdown in one command:
# plan changes nothing; migrate copies identical and thin data, creates a
# least-privilege user and a private secret, switches the definition and
# starts the guest, which boots from RBD and reads the same files; a second
# migrate changes nothing; status reports it; rollback of the unchanged VM
# restores the definition exactly and the VM runs on its LUNs again.
source "$(dirname "$0")/e2e-lib.sh"

dom=${U}-vm
user=${U}u
own_domain "$dom"
own_user "$user"

note "guest: ext4 LUN (vda, odd size) and a raw LUN with data islands (vdb, odd size)"
mkdir -p "$T/tree/etc" "$T/tree/data"
echo "hello from $dom" >"$T/tree/etc/motd"
head -c 700000 /dev/urandom >"$T/tree/data/blob.bin"
seq 1 20000 >"$T/tree/data/numbers.txt"
make_fs_image "$T/fs.img" 48 "$T/tree"
truncate -s $((48 * 1048576 + 8192)) "$T/fs.img"   # not a multiple of 4 MiB (ext4 ignores the tail)
make_islands "$T/raw.img" $((24 * 1048576 + 1024)) 0:64 5:512 23:1025
lun1=$(attach_loop "$T/fs.img")
lun2=$(attach_loop "$T/raw.img")
guest_define "$dom" "$T" "block:$lun1:vda" "block:$lun2:vdb"
log=$(guest_log "$dom" "$T")
guest_start "$dom"
guest_wait_ready "$log" 120
sha_vda=$(sha256sum <"$lun1" | cut -d' ' -f1)
sha_vdb=$(sha256sum <"$lun2" | cut -d' ' -f1)
[ "$(guest_disk_sha "$log" vda)" = "$sha_vda" ] || fail "guest reads another vda than the host"
guest_files "$log" vda >"$T/files.before"
before_xml=$(domain_xml "$dom")

note "plan of a running VM without stop options: refused, nothing changed"
world "$dom" >"$T/world.0"
v2r plan "$dom" --pool "$POOL" --client-user "$user"
expect_rc 3
grep -q -- "--shutdown" "$T/out" || fail "plan does not name --shutdown"
grep -q "Result: migrate would REFUSE" "$T/out" || fail "plan does not say migrate would refuse"

note "plan --shutdown: shows disks, user, secret, monitors, diff; changes nothing"
v2r plan "$dom" --pool "$POOL" --client-user "$user" --shutdown --format json
expect_rc 0
python3 - "$T/out" "$POOL" "$dom" "$user" "$V2R_LAB_MON_HOSTS" <<'PY'
import json, sys
p = json.load(open(sys.argv[1])); pool, dom, user, mons = sys.argv[2:6]
assert p["would_proceed"] and not p["refusals"], p["refusals"]
moving = {d["target"]: d for d in p["disks"] if d["decision"] == "moves"}
assert set(moving) == {"vda", "vdb"}, moving
assert moving["vda"]["image"] == f"{pool}/{dom}-vda" and moving["vda"]["allocated_upper_bound"], moving
assert p["user"] == {"entity": f"client.{user}", "action": "create", "caps_before": {},
                     "caps_after": {"mon": "profile rbd", "osd": f"profile rbd pool={pool}"}}, p["user"]
assert p["secret"]["action"] == "define", p["secret"]
hosts = sorted(f'{h["host"]}:{h["port"]}' for h in p["mon_hosts"])
assert hosts == sorted(mons.split(",")), (hosts, mons)
assert len(hosts) == 3, hosts
assert f"name='{pool}/{dom}-vda'" in p["xml_diff"] and "-    <disk type='block'" in p["xml_diff"], p["xml_diff"]
assert any("io='native'" in d for d in p["dropped"]), p["dropped"]
PY
world "$dom" >"$T/world.1"
diff -u "$T/world.0" "$T/world.1" || fail "plan changed something"

note "migrate --shutdown"
v2r migrate "$dom" --pool "$POOL" --client-user "$user" --shutdown --shutdown-timeout 60 --format json
expect_rc 0
python3 - "$T/out" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["migration"]
assert r["phase"] == "migrated", r
for d in r["disks"]:
    assert d["copied"] and d["verified"] and d["digest"].startswith("xxh3-128-4m:"), d
    assert d["rollback_snapshot"], d
PY
[ "$(virsh domstate "$dom")" = running ] || fail "the VM is not running after migrate"

note "data identical, thin"
[ "$(image_sha256 "$POOL/$dom-vda")" = "$sha_vda" ] || fail "vda image differs from its LUN"
[ "$(image_sha256 "$POOL/$dom-vdb")" = "$sha_vdb" ] || fail "vdb image differs from its LUN"
for t in vda vdb; do
    dev=$lun1; [ $t = vdb ] && dev=$lun2
    used=$(image_used "$POOL/$dom-$t"); limit=$(data_objects_bytes "$dev")
    echo "$t used=$used limit=$limit"
    [ "$used" -le "$limit" ] || fail "$t image uses $used bytes, more than $limit"
done

note "least-privilege user, private secret"
caps=$(ceph auth get "client.$user" 2>/dev/null | grep caps | tr -d '\t' | sort)
expected=$(printf 'caps mon = "profile rbd"\ncaps osd = "profile rbd pool=%s"\n' "$POOL")
[ "$caps" = "$expected" ] || fail "unexpected caps: $caps"
uuid=$(virsh -q secret-list | awk -v u="client.$user secret" '$0 ~ u {print $1}')
[ -n "$uuid" ] || fail "no libvirt secret for client.$user"
if virsh secret-get-value "$uuid" >/dev/null 2>&1; then fail "the secret value can be read back"; fi
grep -q "private='yes'" <<<"$(virsh secret-dumpxml "$uuid")" || fail "secret is not private"

note "both definitions on RBD; the guest booted from RBD and reads the same data"
for flags in "--inactive" ""; do
    # shellcheck disable=SC2086
    x=$(virsh dumpxml $flags "$dom")
    for t in vda vdb; do
        grep -q "name='$POOL/$dom-$t'" <<<"$x" || fail "$t is not on RBD in the ${flags:-live} XML"
    done
    grep -q "username='$user'" <<<"$x" || fail "no auth username in the ${flags:-live} XML"
    [ "$(grep -c "<host name=" <<<"$x")" = 6 ] || fail "expected 3 monitors per disk in the ${flags:-live} XML"
done
guest_wait_ready "$log" 120 2
[ "$(guest_disk_sha "$log" vda)" = "$sha_vda" ] || fail "the guest reads another vda from RBD"
[ "$(guest_disk_sha "$log" vdb)" = "$sha_vdb" ] || fail "the guest reads another vdb from RBD"
[ "$(guest_manifest "$log" vda)" = OK ] || fail "the files on RBD do not match the manifest"
guest_files "$log" vda | diff -u "$T/files.before" - || fail "the guest sees other files on RBD"

note "a second migrate says so and changes nothing"
world "$dom" >"$T/world.2"
v2r migrate "$dom" --pool "$POOL" --client-user "$user" --shutdown
expect_rc 0
grep -q "already migrated" "$T/out" || fail "second migrate did not say it was already migrated"
world "$dom" >"$T/world.3"
diff -u "$T/world.2" "$T/world.3" || fail "second migrate changed something"

note "status"
v2r status "$dom" --format json
expect_rc 0
python3 - "$T/out" "$dom" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["migrations"]
assert len(m) == 1 and m[0]["domain"] == sys.argv[2] and m[0]["phase"] == "migrated", m
assert m[0]["drift"] == [], m[0]["drift"]
assert all(d["verified"] for d in m[0]["disks"]), m
PY

note "rollback of the unchanged VM: refused while running without stop options, then restores the definition"
v2r rollback "$dom"
expect_rc 3
expect_err "--shutdown"
v2r rollback "$dom" --shutdown --shutdown-timeout 60 --remove-images
expect_rc 0
[ "$(domain_xml "$dom")" = "$before_xml" ] || { diff <(echo "$before_xml") <(domain_xml "$dom"); fail "definition not restored exactly"; }
[ "$(virsh domstate "$dom")" = running ] || fail "VM not running after rollback"
grep -q "$lun1" <<<"$(virsh domblklist "$dom")" || fail "VM does not run on its LUN"
guest_wait_ready "$log" 120 3
[ "$(guest_disk_sha "$log" vda)" = "$sha_vda" ] || fail "LUN changed by the round trip"
[ -z "$(rbd ls "$POOL" | grep "^$dom-" || true)" ] || fail "--remove-images left images"
ceph auth get "client.$user" >/dev/null 2>&1 && fail "the user created by the migration was not removed"
[ -z "$(virsh -q secret-list | grep "client.$user" || true)" ] || fail "the secret created by the migration was not removed"
v2r status "$dom"
expect_rc 0
grep -q "rolled back" "$T/out" || fail "status does not say rolled back"
