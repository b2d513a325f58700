# Security of the VM's cephx key and of the user virt2rbd creates:
#  a) while a whole migration of a running one-disk guest runs (--shutdown,
#     --bandwidth 8 so that it lasts a few seconds, then the start on RBD),
#     every process's cmdline and environ is read every ~50 ms and every
#     distinct one saved; afterwards neither the key (base64, as `ceph auth
#     get-key` prints it) nor its decoded bytes (raw or as hex) are in them.
#     A second migration (another domain, same user: user and secret reused,
#     the secret value set again) is scanned the same way.
#  b) the key is not in virt2rbd's stdout or stderr (text and --format json,
#     for migrate, plan and status), in any file of the state dir, in the
#     domain XML (live and persistent, with secure info), in the secret's XML
#     or in libvirt's log of the domain; the state dir is 0700, its files
#     (saved definition, journals, ...) 0600.
#  c) the created user reads and writes images of its pool and gets EPERM
#     ("Operation not permitted") on another RBD pool.
#  d) qemu of the migrated VM killed with SIGKILL: `virsh start` boots it from
#     RBD again (the user's caps let the new qemu blocklist the dead lock holder).
#  e) the libvirt secret's value cannot be read back (private).
source "$(dirname "$0")/e2e-lib.sh"
note() { echo "--- [${SECONDS}s] $*"; }

dom=${U}-sec      # the running guest
dom2=${U}-sec2    # a shut-off domain migrated with the same user
CU=${U}u
OTHER=${U}other   # a second RBD pool
own_domain "$dom"
own_domain "$dom2"
own_user "$CU"
other_made=
scan_pid=

_sec_cleanup() {
    local rc=$?
    set +e
    if [ -n "$scan_pid" ]; then
        touch "$T/scan.stop"
        kill "$scan_pid" 2>/dev/null
        wait "$scan_pid" 2>/dev/null
    fi
    [ -n "$other_made" ] && ceph osd pool rm "$OTHER" "$OTHER" --yes-i-really-really-mean-it >/dev/null 2>&1
    (exit $rc)
    _e2e_cleanup
}
trap _sec_cleanup EXIT

# --- the process scanner ------------------------------------------------------------
# scan_start DUMP: every ~50 ms, read /proc/*/cmdline and /proc/*/environ;
# append each one not seen before (same pid, same bytes) to DUMP, after a
# header line "==V2R-SCAN PID KIND LEN". scan_stop sets SCANS, the number of scans.
scan_start() {
    rm -f "$T/scan.stop" "$T/scan.count"
    /usr/bin/python3 - "$1" "$T/scan.stop" "$T/scan.count" "$BASHPID" <<'PY' &
import hashlib, os, sys, time
dump, stop, count, parent = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
seen = set()
scans = 0
with open(dump, "ab") as out:
    while not os.path.exists(stop):
        try:
            os.kill(parent, 0)  # the test is gone: stop
        except ProcessLookupError:
            break
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or pid == str(os.getpid()):
                continue
            for kind in ("cmdline", "environ"):
                try:
                    with open("/proc/%s/%s" % (pid, kind), "rb") as f:
                        data = f.read()
                except OSError:
                    continue  # gone, or a kernel thread
                h = hashlib.sha1(b"%s %s " % (pid.encode(), kind.encode()) + data).digest()
                if h in seen:
                    continue
                seen.add(h)
                out.write(b"\n==V2R-SCAN %s %s %d\n" % (pid.encode(), kind.encode(), len(data)) + data)
        out.flush()
        scans += 1
        if scans == 1:
            open(count, "w").write("1\n")  # the first scan is done: tell scan_start
        time.sleep(0.05)
open(count, "w").write("%d\n" % scans)
PY
    scan_pid=$!
    local i
    for ((i = 0; i < 200; i++)); do
        [ "$(cat "$T/scan.count" 2>/dev/null)" = 1 ] && return 0
        kill -0 "$scan_pid" 2>/dev/null || break
        sleep 0.05
    done
    fail "the process scanner did not start"
}
scan_stop() {
    touch "$T/scan.stop"
    wait "$scan_pid" || fail "the process scanner failed"
    scan_pid=
    SCANS=$(cat "$T/scan.count")
}

# key_absent WHAT KEYFILE FILE...: none of the files holds the key of KEYFILE
# (as `ceph auth get-key` prints it; a file, so that the key is never in an
# argv here either): its base64 text (without the padding), its decoded bytes
# (the libvirt secret value: 28 bytes) or their last 16 (the AES secret
# itself), raw or as hex.
key_absent() {
    local what=$1 keyfile=$2
    shift 2
    no_key_in "$keyfile" "$@" || fail "$what: the cephx key was found (above)"
    echo "$what: key not found in $# file(s)"
}
# no_key_in KEYFILE FILE...: fails (naming where) if one of the files holds the key.
no_key_in() {
    /usr/bin/python3 - "$@" <<'PY'
import base64, binascii, sys
key, files = open(sys.argv[1]).read().strip(), sys.argv[2:]
raw = base64.b64decode(key)
assert len(raw) == 28, len(raw)
needles = {"base64": key.rstrip("=").encode()}
for name, b in (("decoded", raw), ("secret", raw[12:])):
    needles[name + " bytes"] = b
    needles[name + " hex"] = binascii.hexlify(b)
    needles[name + " HEX"] = binascii.hexlify(b).upper()
bad = 0
for path in files:
    data = open(path, "rb").read()
    for name, n in needles.items():
        at = data.find(n)
        if at >= 0:
            print("FOUND the key (%s) in %s at byte %d" % (name, path, at), file=sys.stderr)
            bad += 1
sys.exit(1 if bad else 0)
PY
}

# scan_saw DUMP REGEX: some saved cmdline matches REGEX (NULs read as spaces).
scan_saw() {
    /usr/bin/python3 - "$1" "$2" <<'PY'
import re, sys
data = open(sys.argv[1], "rb").read()
pat = re.compile(sys.argv[2].encode())
for chunk in data.split(b"\n==V2R-SCAN ")[1:]:
    head, _, body = chunk.partition(b"\n")
    if head.split()[1] == b"cmdline" and pat.search(body.replace(b"\0", b" ")):
        sys.exit(0)
sys.exit(1)
PY
}

# --- the guest -----------------------------------------------------------------------
mkdir -p "$T/tree/data"
echo "security test $U" >"$T/tree/hello.txt"
head -c $((20 * 1048576)) /dev/urandom >"$T/tree/data/blob.bin"
make_fs_image "$T/fs.img" 40 "$T/tree"
lun=$(attach_loop "$T/fs.img")
sha=$(sha256sum <"$lun" | cut -d' ' -f1)
guest_define "$dom" "$T" "block:$lun:vda"
log=$(guest_log "$dom" "$T")
guest_start "$dom"
truncate -s 8M "$T/sec2.raw"
dd if=/dev/urandom of="$T/sec2.raw" bs=1M count=2 conv=notrunc status=none
guest_define "$dom2" "$T" "file:$T/sec2.raw:vda"
guest_wait_ready "$log" 120
note "guest up in ${GUEST_ELAPSED}s"

# --- a) b) the whole migration of the running guest, scanned ----------------------------
note "migrate $dom --shutdown --bandwidth 8 --format json, every process scanned"
scan_start "$T/scan1.dump"
t0=$SECONDS
v2r migrate "$dom" --pool "$POOL" --client-user "$CU" --shutdown --shutdown-timeout 60 --bandwidth 8 \
    --progress-interval 0.5 --format json
took=$((SECONDS - t0))
scan_stop
cp "$T/out" "$T/migrate1.out"
cp "$T/err" "$T/migrate1.err"
expect_rc 0
echo "migrate took ${took}s; $SCANS scans, $(grep -ac '^==V2R-SCAN' "$T/scan1.dump") distinct cmdlines/environs saved"
[ "$took" -ge 2 ] || fail "the migration took ${took}s: too short to be scanned meaningfully"
[ "$SCANS" -ge $((took * 5)) ] || fail "only $SCANS scans in ${took}s"
scan_saw "$T/scan1.dump" "virt2rbd migrate $dom " || fail "the scanner never saw virt2rbd"
scan_saw "$T/scan1.dump" "-name guest=$dom," || fail "the scanner never saw qemu of $dom on RBD"
grep -q "^copy: " "$T/migrate1.err" || fail "no progress lines on stderr"
/usr/bin/python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))["migration"]
assert m["phase"] == "migrated" and all(d["verified"] for d in m["disks"]), m' "$T/migrate1.out"
[ "$(guest_state "$dom")" = running ] || fail "$dom is not running after the migration"
key=$T/key    # the key, base64, in a file of this test (0600)
(umask 077; ceph auth get-key "client.$CU" >"$key")
[ "$(base64 -d <"$key" | wc -c)" = 28 ] || fail "client.$CU has no cephx key of 28 bytes"
# controls: the search finds the key in each of its forms
(umask 077; cat "$key" >"$T/control.b64"; base64 -d <"$key" >"$T/control.raw"
 base64 -d <"$key" | od -An -tx1 | tr -d ' \n' >"$T/control.hex")
for c in b64 raw hex; do
    if no_key_in "$key" "$T/control.$c" 2>/dev/null; then fail "no_key_in does not find the key ($c)"; fi
done
key_absent "process scan" "$key" "$T/scan1.dump"
key_absent "migrate output (json, stderr text)" "$key" "$T/migrate1.out" "$T/migrate1.err"

note "a second migration with the same user (reused user and secret, value set again), scanned"
scan_start "$T/scan2.dump"
v2r migrate "$dom2" --pool "$POOL" --client-user "$CU" --no-start --progress-interval 0.5
scan_stop
cp "$T/out" "$T/migrate2.out"
cp "$T/err" "$T/migrate2.err"
expect_rc 0
grep -q "migrated to RBD" "$T/migrate2.out" || fail "the second migration did not say it migrated"
echo "$SCANS scans"
scan_saw "$T/scan2.dump" "virt2rbd migrate $dom2 " || fail "the scanner never saw the second virt2rbd"
[ "$(ceph auth get-key "client.$CU")" = "$(cat "$key")" ] || fail "the user's key changed"
[ "$(virsh -q secret-list | grep -c "client.$CU secret")" = 1 ] || fail "not exactly one secret for client.$CU"
key_absent "process scan 2" "$key" "$T/scan2.dump"
key_absent "migrate output (text)" "$key" "$T/migrate2.out" "$T/migrate2.err"

note "plan and status, text and json"
outs=()
for d in "$dom" "$dom2"; do
    for fmt in text json; do
        v2r plan "$d" --pool "$POOL" --client-user "$CU" --format $fmt
        cat "$T/out" "$T/err" >"$T/plan-$d-$fmt.txt"
        outs+=("$T/plan-$d-$fmt.txt")
        v2r status "$d" --format $fmt
        expect_rc 0
        cat "$T/out" "$T/err" >"$T/status-$d-$fmt.txt"
        outs+=("$T/status-$d-$fmt.txt")
    done
done
key_absent "plan/status outputs" "$key" "${outs[@]}"

note "the state dir: no key; 0700, files 0600"
files=()
while IFS= read -r -d '' f; do files+=("$f"); done < <(find "$STATE" -type f -print0)
uuid=$(virsh domuuid "$dom" | sed -n 1p)
for f in definition.xml journal; do
    [ -f "$STATE/domains/$uuid/$f" ] || fail "no $f in the state dir"
done
key_absent "state dir" "$key" "${files[@]}"
[ "$(stat -c %a "$STATE")" = 700 ] || fail "the state dir is $(stat -c %a "$STATE"), not 0700"
bad=$(find "$STATE" \( -type d ! -perm 0700 \) -o \( -type f ! -perm 0600 \) -printf '%m %p\n')
[ -z "$bad" ] || fail "state dir entries with other modes: $bad"
echo "${#files[@]} files, all 0600; directories 0700"

note "libvirt: domain XML, secret XML, the domain's log; the value cannot be read back"
secret_uuid=$(virsh -q secret-list | awk -v u="client.$CU secret" 'index($0, u) { print $1 }')
[ -n "$secret_uuid" ] || fail "no libvirt secret for client.$CU"
virsh dumpxml --security-info "$dom" >"$T/live.xml"
virsh dumpxml --inactive --security-info "$dom" >"$T/inactive.xml"
virsh dumpxml --inactive --security-info "$dom2" >"$T/inactive2.xml"
virsh secret-dumpxml "$secret_uuid" >"$T/secret.xml"
grep -q "private='yes'" "$T/secret.xml" || fail "the secret is not private"
grep -q "uuid='$secret_uuid'" "$T/inactive.xml" || fail "the domain does not use the secret"
xmls=("$T/live.xml" "$T/inactive.xml" "$T/inactive2.xml" "$T/secret.xml")
[ -f "/var/log/libvirt/qemu/$dom.log" ] && xmls+=("/var/log/libvirt/qemu/$dom.log")
key_absent "libvirt XML and log" "$key" "${xmls[@]}"
set +e
virsh secret-get-value "$secret_uuid" >"$T/getvalue.out" 2>"$T/getvalue.err"
rc=$?
set -e
[ "$rc" != 0 ] || fail "virsh secret-get-value succeeded"
grep -q "private" "$T/getvalue.err" || { cat "$T/getvalue.err" >&2; fail "secret-get-value did not fail for being private"; }
[ -z "$(tr -d '[:space:]' <"$T/getvalue.out")" ] || fail "secret-get-value printed a value"
echo "secret-get-value: $(head -n 1 "$T/getvalue.err")"

# --- c) the user's reach ----------------------------------------------------------------
note "the created user reads and writes images of its pool"
ceph auth get "client.$CU" -o "$T/cu.keyring" 2>/dev/null
chmod 0600 "$T/cu.keyring"
urbd() { rbd --id "$CU" --keyring "$T/cu.keyring" "$@"; }
head -c $((4 * 1048576 + 4096)) /dev/urandom >"$T/rw.raw"
urbd import --no-progress "$T/rw.raw" "$POOL/${U}-rw"
[ "$(urbd export --no-progress "$POOL/${U}-rw" - | sha256sum | cut -d' ' -f1)" = "$(file_sha256 "$T/rw.raw")" ] ||
    fail "the user read back other data"
grep -qx "${U}-rw" <<<"$(urbd ls "$POOL")" || fail "the user does not list its image"
urbd rm --no-progress "$POOL/${U}-rw"
if rbd info "$POOL/${U}-rw" >/dev/null 2>&1; then fail "the user could not remove its image"; fi
[ "$(urbd export --no-progress "$POOL/$dom-vda" - | sha256sum | cut -d' ' -f1)" = "$sha" ] ||
    fail "the user reads another vda than the LUN's"
echo "create, write, read, list, remove in $POOL: ok"

note "and gets EPERM on another pool"
ceph osd pool create "$OTHER" 8 8 >/dev/null 2>&1
other_made=1
rbd pool init "$OTHER"
set +e
urbd create --size 4M "$OTHER/x" >"$T/eperm.out" 2>&1
rc_create=$?
urbd ls "$OTHER" >"$T/eperm-ls.out" 2>&1
rc_ls=$?
set -e
cat "$T/eperm.out"
[ "$rc_create" != 0 ] || fail "the user created an image in $OTHER"
grep -q "Operation not permitted" "$T/eperm.out" || fail "create in $OTHER did not fail with EPERM"
[ "$rc_ls" != 0 ] || fail "the user listed $OTHER"
grep -q "Operation not permitted" "$T/eperm-ls.out" || { cat "$T/eperm-ls.out"; fail "ls of $OTHER did not fail with EPERM"; }
[ -z "$(rbd ls "$OTHER")" ] || fail "an image appeared in $OTHER"
ceph osd pool rm "$OTHER" "$OTHER" --yes-i-really-really-mean-it >/dev/null 2>&1
other_made=

# --- d) kill -9 qemu, start again --------------------------------------------------------
# The check-mode guest only reads: to leave a lock behind, qemu is made to
# write 512 zero bytes over the zeros at the start of the ext4 image (its
# boot block), which takes the image's exclusive lock and changes no data.
qemu_write_zeros() {
    local out
    out=$(virsh qemu-monitor-command "$dom" --hmp \
        'qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "write -P 0 0 512"' 2>&1) ||
        fail "qemu-io write failed: $out"
    [ -z "$(tr -d '[:space:]' <<<"$out")" ] || fail "qemu-io write: $out"
}
locker() {  # the address of the exclusive lock holder of the image, or nothing
    rbd lock ls --format json "$POOL/$dom-vda" | /usr/bin/python3 -c '
import json, sys
l = json.load(sys.stdin)
l = l if isinstance(l, list) else [dict(v, id=k) for k, v in l.items()]
print(" ".join(x.get("address", "") for x in l))'
}
note "kill -9 qemu of $dom holding the image's lock, virsh start: it boots from RBD again"
[ -z "$(head -c 512 "$lun" | tr -d '\0')" ] || fail "the first 512 bytes of the ext4 image are not zeros"
guest_wait_ready "$log" 120 2   # the boot on RBD after the migration
[ "$(guest_disk_sha "$log" vda)" = "$sha" ] || fail "the guest reads another vda from RBD"
qemu_write_zeros
dead=$(locker)
[ -n "$dead" ] && [[ $dead != *" "* ]] || fail "expected one lock holder after a write, got '$dead'"
echo "lock holder: $dead"
qpid=
for p in /proc/[0-9]*; do
    c=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null || true)
    if [[ $c == *"-name guest=$dom,"* ]]; then qpid=${p#/proc/}; break; fi
done
[ -n "$qpid" ] || fail "no qemu process of $dom"
kill -9 "$qpid"
guest_wait_state "$dom" "shut off" 30
[ "$(locker)" = "$dead" ] || fail "the dead qemu's lock is gone already"
n=$(guest_boots "$log")
t0=$SECONDS
virsh -q start "$dom" >/dev/null
guest_wait_ready "$log" 150 $((n + 1))
echo "booted again $((SECONDS - t0))s after virsh start"
[ "$(guest_disk_sha "$log" vda)" = "$sha" ] || fail "after the kill the guest reads another vda"
[ "$(guest_manifest "$log" vda)" = OK ] || fail "after the kill the files do not match their manifest"
[[ $(virsh dumpxml "$dom") == *"name='$POOL/$dom-vda'"* ]] || fail "the restarted VM is not on RBD"
note "the new qemu writes: it breaks the dead holder's lock, blocklisting it"
t0=$SECONDS
qemu_write_zeros
now=$(locker)
echo "write done after $((SECONDS - t0))s; lock holder: $now"
[ -n "$now" ] && [ "$now" != "$dead" ] || fail "the new qemu does not hold the lock ('$now', the dead one was '$dead')"
grep -qF "$dead " <<<"$(ceph osd blocklist ls 2>/dev/null)" || fail "the dead holder $dead is not blocklisted"
echo "the dead holder $dead is blocklisted"
[ "$(urbd export --no-progress "$POOL/$dom-vda" - | sha256sum | cut -d' ' -f1)" = "$sha" ] ||
    fail "the image changed"
