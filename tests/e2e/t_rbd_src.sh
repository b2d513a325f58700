# RBD sources move (issue 12): a shut-off domain whose disk is an image in
# another pool of the lab cluster (<host> monitors and <auth> from a libvirt
# secret the test defines) is moved into the target pool by the copy engine:
# read at a snapshot virt2rbd takes (journalled, removed after the copy), the
# copy equal to the source and as thin, the source image untouched. A watcher
# on the image and an unknown secret are refused with nothing changed; the
# key never reaches the output, the journal or the state dir; copy-back into
# an RBD source is refused; rollback restores the definition exactly.
source "$(dirname "$0")/e2e-lib.sh"

SRC=${U}src           # the source pool, made and removed by this test
SU=${U}s              # the source's cephx user (client.$SU), with a secret of its own
SECRET_USAGE="${U} source key"
src_made=
secret_uuid=
private_uuid=
watch_pid=
_rbdsrc_cleanup() {
    local rc=$?
    set +e
    exec 3>&- 2>/dev/null
    [ -n "$watch_pid" ] && kill "$watch_pid" 2>/dev/null && wait "$watch_pid" 2>/dev/null
    [ -n "$secret_uuid" ] && virsh secret-undefine "$secret_uuid" >/dev/null 2>&1
    [ -n "$private_uuid" ] && virsh secret-undefine "$private_uuid" >/dev/null 2>&1
    ceph auth del "client.$SU" >/dev/null 2>&1
    if [ -n "$src_made" ]; then
        for img in $(rbd ls "$SRC" 2>/dev/null); do rbd snap purge "$SRC/$img" >/dev/null 2>&1; done
        ceph osd pool rm "$SRC" "$SRC" --yes-i-really-really-mean-it >/dev/null 2>&1
    fi
    (exit $rc)
    _e2e_cleanup
}
trap _rbdsrc_cleanup EXIT

note "a source pool with an image of known data and holes"
ceph osd pool create "$SRC" 8 8 >/dev/null 2>&1
src_made=1
rbd pool init "$SRC"
make_islands "$T/src.raw" $((64 << 20)) 0:256 5:1024 17:64 40:2048 63:512
rbd import --no-progress "$T/src.raw" "$SRC/img" >/dev/null
src_sum=$(sha256sum <"$T/src.raw" | cut -d' ' -f1)

note "its cephx user and a libvirt secret holding the key"
ceph auth get-or-create "client.$SU" mon 'profile rbd' osd "profile rbd pool=$SRC" >/dev/null
# not private, as Ceph's libvirt guide defines it (libvirt hands out no value of a private one)
cat >"$T/secret.xml" <<XML
<secret ephemeral='no' private='no'><usage type='ceph'><name>$SECRET_USAGE</name></usage></secret>
XML
secret_uuid=$(virsh secret-define "$T/secret.xml" | awk '{print $2}')
ceph auth get-key "client.$SU" | tr -d "\n" >"$T/key.b64"
virsh secret-set-value "$secret_uuid" --file "$T/key.b64" >/dev/null
sed -i "s/private='no'/private='yes'/; s/$SECRET_USAGE/$SECRET_USAGE (private)/" "$T/secret.xml"
private_uuid=$(virsh secret-define "$T/secret.xml" | awk '{print $2}')
virsh secret-set-value "$private_uuid" --file "$T/key.b64" >/dev/null
key=$(cat "$T/key.b64"); rm -f "$T/key.b64"

hosts=""
for h in ${V2R_LAB_MON_HOSTS//,/ }; do hosts+="<host name='${h%:*}' port='${h##*:}'/>"; done
# define_domain NAME SECRET_UUID: a shut-off domain whose vdb is $SRC/img.
define_domain() {
    cat >"$T/$1.xml" <<XML
<domain type='qemu'>
  <name>$1</name>
  <memory unit='MiB'>64</memory>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <disk type='network' device='disk'>
      <driver name='qemu' type='raw' cache='writeback'/>
      <source protocol='rbd' name='$SRC/img'>
        $hosts
        <auth username='$SU'><secret type='ceph' uuid='$2'/></auth>
      </source>
      <target dev='vdb' bus='virtio'/>
    </disk>
  </devices>
</domain>
XML
    virsh define "$T/$1.xml" >/dev/null
}
dom=${U}-r
own_domain "$dom"
define_domain "$dom" "$secret_uuid"
before_xml=$(domain_xml "$dom")
user=${U}u
own_user "$user"

note "plan: the disk in another pool moves, read from a snapshot"
v2r plan "$dom" --pool "$POOL" --client-user "$user" --format json
expect_rc 0
python3 - "$T/out" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
d = {x["target"]: x for x in p["disks"]}
assert d["vdb"]["decision"] == "moves", d
assert d["vdb"]["size"] == 64 << 20, d
assert d["vdb"]["read_path"].startswith("rbd ("), d["vdb"]
PY

note "a private secret (no value handed out) on the target cluster: read as the operator"
priv=${U}-p
own_domain "$priv"
define_domain "$priv" "$private_uuid"
v2r plan "$priv" --pool "$POOL" --client-user "$user" --format json
expect_rc 0

note "an unknown secret: refused, nothing changed"
bad=${U}-bad
own_domain "$bad"
define_domain "$bad" "00000000-1111-2222-3333-$(printf '%012d' $$)"
world "$bad" >"$T/w0"
v2r migrate "$bad" --pool "$POOL" --client-user "$user" --no-start
expect_rc 3
expect_err "the key of client\\.$SU cannot be read"
world "$bad" >"$T/w1"
diff -u "$T/w0" "$T/w1" || fail "a refused migrate changed something"

note "a watcher on the source image: refused, nothing changed"
# rbd watch holds its watch until its stdin ends: a fifo this shell keeps open.
mkfifo "$T/watch.in"
rbd watch "$SRC/img" <"$T/watch.in" >/dev/null 2>&1 &
watch_pid=$!
exec 3>"$T/watch.in"
for _ in $(seq 50); do rbd status "$SRC/img" 2>/dev/null | grep -q "watcher=" && break; sleep 0.2; done
rbd status "$SRC/img" | grep -q "watcher=" || fail "rbd watch did not register its watch"
world "$dom" >"$T/w0"
v2r migrate "$dom" --pool "$POOL" --client-user "$user" --no-start
expect_rc 3
expect_err "open read-write by"
world "$dom" >"$T/w1"
diff -u "$T/w0" "$T/w1" || fail "a refused migrate changed something"
[ -z "$(rbd snap ls "$SRC/img")" ] || fail "a refused migrate left a snapshot"
# End of its stdin: it unwatches and exits (a kill would leave the watch to time out).
exec 3>&-
for _ in $(seq 50); do kill -0 "$watch_pid" 2>/dev/null || break; sleep 0.2; done
kill "$watch_pid" 2>/dev/null || true; wait "$watch_pid" 2>/dev/null || true; watch_pid=
for _ in $(seq 225); do rbd status "$SRC/img" 2>/dev/null | grep -q "watcher=" || break; sleep 0.2; done

note "migrate: the image equals the source, as thin, the source untouched and its snapshot gone"
v2r migrate "$dom" --pool "$POOL" --client-user "$user" --no-start --verify full
expect_rc 0
rbd export --no-progress "$POOL/$dom-vdb" "$T/got.raw" >/dev/null
cmp "$T/got.raw" "$T/src.raw" || fail "image $dom-vdb differs from the source"
rm -f "$T/got.raw"
rbd export --no-progress "$SRC/img" "$T/src-after.raw" >/dev/null
[ "$(sha256sum <"$T/src-after.raw" | cut -d' ' -f1)" = "$src_sum" ] || fail "the source image was written"
rm -f "$T/src-after.raw"
[ -z "$(rbd snap ls "$SRC/img")" ] || fail "the source snapshot was left: $(rbd snap ls "$SRC/img")"
used() { rbd du --format json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["images"][0]["used_size"])'; }
ours=$(used "$POOL/$dom-vdb"); theirs=$(used "$SRC/img")
echo "used: copy $ours, source $theirs"
[ "$ours" -le "$theirs" ] || fail "the copy is fatter than its source ($ours > $theirs)"
[ "$ours" -lt $((32 << 20)) ] || fail "the copy is not thin ($ours bytes used of 64 MiB)"
journal=$(find "$STATE" -name journal | head -1)
grep -q '"event":"source-snapshot"' "$journal" || fail "no source-snapshot record"
grep -q '"event":"source-snapshot-removed"' "$journal" || fail "no source-snapshot-removed record"
if grep -rqF -- "$key" "$STATE" "$T/out" "$T/err"; then fail "the source's key reached the state dir or the output"; fi
new=$(domain_xml "$dom")
grep -q "name='$POOL/$dom-vdb'" <<<"$new" || fail "the disk was not switched to $POOL/$dom-vdb"
if grep -q "$SU" <<<"$new"; then fail "the old source's user is still in the definition"; fi

note "rollback: copy-back into an RBD source refused, nothing changed; --discard-changes goes back"
rbd bench --io-type write --io-size 4K --io-total 64K "$POOL/$dom-vdb" >/dev/null
world "$dom" >"$T/w0"
v2r rollback "$dom" --copy-back
expect_rc 3
expect_err "copying changes back into an RBD source is not supported"
world "$dom" >"$T/w1"
diff -u "$T/w0" "$T/w1" || fail "a refused rollback changed something"
v2r rollback "$dom" --discard-changes --remove-images
expect_rc 0
[ "$(domain_xml "$dom")" = "$before_xml" ] || fail "definition not restored exactly"
rbd export --no-progress "$SRC/img" "$T/src-after.raw" >/dev/null
[ "$(sha256sum <"$T/src-after.raw" | cut -d' ' -f1)" = "$src_sum" ] || fail "the source image was written"
