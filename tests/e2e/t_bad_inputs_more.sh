# More bad inputs (docs/bad-inputs.md lists them all, with the test of each):
# malformed options, disks that cannot move (<encryption>, missing
# or empty source, raw bytes declared qcow2), state dirs that cannot be used (under
# a regular file, a regular file, an immutable dir), a domain locked by
# another virt2rbd, rollback/commit/status of a domain never migrated, a
# corrupted journal (status, plan, migrate, rollback, commit refuse it with
# its line number), an operator identity without the caps to manage cephx
# users, a pool that is not initialised for RBD, and sources smaller or
# larger than an existing image (verify: exit 5 naming both sizes; migrate:
# the image name is taken).
#
# Every case checks the exit code, the message, and that nothing changed:
# this test's images, cephx users, libvirt secrets, every test domain's
# persistent definition (secure info) and state, the non-empty journals of
# the state dir, byte for byte (a refused run may leave an empty journal and
# a lock file for its domain: nothing is recorded in them), and the objects
# and application of the non-RBD pool.
source "$(dirname "$0")/e2e-lib.sh"
note() { echo "--- [${SECONDS}s] $*"; }

D=${U}-d        # one block disk (vda), shut off: most cases
ENC=${U}-enc    # vda with <encryption>
F=${U}-f        # vda: a raw file (removed, then emptied)
Q=${U}-q        # vda: a qcow2 file only
CU=${U}u        # the VM's cephx id
WEAK=${U}weak   # an operator identity that may not manage cephx users
PLAIN=${U}plain # a pool without `rbd pool init`
plain_made=
DOMS=("$D" "$ENC" "$F" "$Q")
for d in "${DOMS[@]}"; do own_domain "$d"; done
own_user "$CU"
own_user "$WEAK"

_more_cleanup() {
    local rc=$?
    set +e
    [ -n "${lock_pid:-}" ] && kill "$lock_pid" 2>/dev/null
    chattr -i "$T/ro" 2>/dev/null
    if [ -n "$plain_made" ]; then
        ceph osd pool rm "$PLAIN" "$PLAIN" --yes-i-really-really-mean-it >/dev/null 2>&1
    fi
    (exit $rc)
    _e2e_cleanup
}
trap _more_cleanup EXIT

# Everything a refused command must leave alone: `world` (images, users,
# secrets: the slow part, asked in the background) and each domain's
# definition and state as `world DOMAIN...` prints them, the journals, the pool.
snap() {
    world >"$T/snap.world" &
    local pid=$! d
    for d in "${DOMS[@]}"; do
        echo "== $d"; domain_xml "$d"; virsh domstate "$d"
    done >"$T/snap.doms"
    wait "$pid" || fail "world failed"
    cat "$T/snap.world" "$T/snap.doms"
    # Every path of the state dir (a refused run leaves not even an empty
    # journal or lock), and the journals' contents.
    echo "== state dir"
    if [ -d "$STATE" ]; then
        find "$STATE" -mindepth 1 -printf '%P %M\n' | sort
        find "$STATE" -name 'journal*' -size +0 -exec sha256sum {} + | sort
    fi
    if [ -n "$plain_made" ]; then
        echo "== pool $PLAIN"
        ceph osd pool application get "$PLAIN" 2>&1
        rados -p "$PLAIN" ls | sort
    fi
}
baseline() { snap >"$T/before"; }
expect_unchanged() {
    snap >"$T/after"
    diff -u "$T/before" "$T/after" >&2 || fail "$1: something changed (diff above)"
}
expect_out() { grep -Eq -- "$1" "$T/out" || { cat "$T/out" >&2; fail "stdout does not match /$1/"; }; }
re() { printf '%s' "$1" | sed 's/[][\.*^$+?(){}|/]/\\&/g'; }  # a literal string as an ERE

# refused CASE CODE REGEX ARGS...: virt2rbd ARGS exits CODE, REGEX on stderr,
# nothing changed (compared with the last baseline).
refused() {
    local what=$1 code=$2 regex=$3
    shift 3
    note "$what: virt2rbd $*"
    run_v2r "$@"
    expect_rc "$code"
    expect_err "$regex"
    expect_unchanged "$what"
}

# --- the domains ----------------------------------------------------------------
guest_build
make_islands "$T/d.raw" $((8 * 1048576)) 0:1024 5:256
truncate -s 4M "$T/enc.raw"
lun_d=$(attach_loop "$T/d.raw")
lun_e=$(attach_loop "$T/enc.raw")
guest_define "$D" "$T" "block:$lun_d:vda"
uuid=$(virsh domuuid "$D" | sed -n 1p)

# redefine NAME SED-SCRIPT: NAME defined again from its guest_define XML
# (which has no uuid and no addresses) edited by SED-SCRIPT.
redefine() {
    sed -e "$2" "$T/$1.xml" >"$T/$1.edited.xml"
    cmp -s "$T/$1.xml" "$T/$1.edited.xml" && fail "redefine $1: the edit changed nothing"
    virsh -q undefine "$1" >/dev/null
    virsh -q define "$T/$1.edited.xml" >/dev/null
}
guest_define "$ENC" "$T" "block:$lun_e:vda"
redefine "$ENC" "s|<source dev='$lun_e'/>|<source dev='$lun_e'><encryption format='luks'><secret type='passphrase' uuid='0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f'/></encryption></source>|"
[[ $(virsh dumpxml --inactive "$ENC") == *"<encryption"* ]] || fail "could not define an encrypted disk"
truncate -s 4M "$T/f.raw" "$T/q.img"
guest_define "$F" "$T" "file:$T/f.raw:vda"
guest_define "$Q" "$T" "file:$T/q.img:vda"
redefine "$Q" "s|type='raw'|type='qcow2'|"
COMMON=(--pool "$POOL" --client-user "$CU")

# --- malformed options (exit 2, checked before anything is looked at) ------------
baseline
refused "unknown option" 2 "The following argument was not expected: --no-such-option" \
    migrate "$D" "${COMMON[@]}" --state-dir "$STATE" --no-such-option
refused "unknown command" 2 "unknown command 'migrat' \\(commands: copy, verify, plan, migrate" \
    migrat "$D" "${COMMON[@]}" --state-dir "$STATE"
refused "no command" 2 "A subcommand is required"
refused "--pool missing" 2 "--pool is required" migrate "$D" --client-user "$CU" --state-dir "$STATE"
refused "DOMAIN missing" 2 "DOMAIN is required" migrate "${COMMON[@]}" --state-dir "$STATE"
refused "bad --cache" 2 "--cache: bogus not in \\{writeback,none,writethrough,directsync,unsafe,default\\}" \
    migrate "$D" "${COMMON[@]}" --state-dir "$STATE" --cache bogus
refused "bad --format" 2 "--format: xml not in \\{text,json\\}" \
    migrate "$D" "${COMMON[@]}" --state-dir "$STATE" --format xml
refused "bad --verify" 2 "--verify: maybe not in \\{full,none\\}" \
    plan "$D" "${COMMON[@]}" --state-dir "$STATE" --verify maybe
refused "--in-flight 0" 2 "--in-flight: Value 0 not in range 1 to 1024" \
    migrate "$D" "${COMMON[@]}" --state-dir "$STATE" --in-flight 0
refused "bad --in-flight-bytes" 2 "--in-flight-bytes: 'lots' is not a size" \
    migrate "$D" "${COMMON[@]}" --state-dir "$STATE" --in-flight-bytes lots
refused "--shutdown-timeout 0" 2 "--shutdown-timeout: Value 0 not in range" \
    migrate "$D" "${COMMON[@]}" --state-dir "$STATE" --shutdown-timeout 0
refused "--bandwidth not a number" 2 "--bandwidth: Value abc not in range" \
    migrate "$D" "${COMMON[@]}" --state-dir "$STATE" --bandwidth abc
refused "empty --state-dir" 2 "--state-dir is empty" migrate "$D" "${COMMON[@]}" --state-dir ""
refused "--client-user with a space" 2 "--client-user 'bad user' is not a valid cephx id" \
    migrate "$D" --pool "$POOL" --client-user "bad user" --state-dir "$STATE"
refused "--client-user client.ID" 2 "--client-user 'client\\.$CU' includes the 'client\\.' prefix" \
    migrate "$D" --pool "$POOL" --client-user "client.$CU" --state-dir "$STATE"
refused "--pool with a slash" 2 "--pool '$POOL/x' is not a pool name" \
    migrate "$D" --pool "$POOL/x" --client-user "$CU" --state-dir "$STATE"
refused "--image-name unknown field" 2 "--image-name '\\{nope\\}': unknown field \\{nope\\}" \
    migrate "$D" "${COMMON[@]}" --state-dir "$STATE" --image-name '{nope}'
refused "--image-name bad character" 2 "image name 'a bvda' \\(from --image-name 'a b\\{target\\}'\\) has the character ' '" \
    migrate "$D" "${COMMON[@]}" --state-dir "$STATE" --image-name 'a b{target}'
note "usage errors with --format json: one error document on stdout"
run_v2r migrate "$D" "${COMMON[@]}" --state-dir "$STATE" --format json --cache bogus
expect_rc 2
/usr/bin/python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["error"]; assert e["exit_code"] == 2 and "--cache" in e["message"], e' "$T/out"
expect_unchanged "usage error (json)"

# --- disks that cannot move -------------------------------------------------------
refused "<encryption>" 3 "disk vda: has <encryption> .*not supported; exclude it with --disks" \
    migrate "$ENC" "${COMMON[@]}" --state-dir "$STATE"
expect_err "domain $ENC has no disk that can move to RBD"
# The format is the definition's, never probed: raw bytes declared qcow2 are
# refused with qemu's reason.
refused "raw bytes declared qcow2" 3 "disk vda: source $(re "$T/q.img") is not readable: .*not in qcow2 format" \
    migrate "$Q" "${COMMON[@]}" --state-dir "$STATE"
refused "raw bytes declared qcow2 (plan)" 3 "migrate would refuse" plan "$Q" "${COMMON[@]}" --state-dir "$STATE"
expect_out "vda +moves"
rm "$T/f.raw"
refused "source missing" 3 "disk vda: source $(re "$T/f.raw") is not readable: source $(re "$T/f.raw"): No such file or directory" \
    migrate "$F" "${COMMON[@]}" --state-dir "$STATE"
: >"$T/f.raw"
refused "source empty" 3 "disk vda: source $(re "$T/f.raw") is empty \\(0 bytes\\)" \
    migrate "$F" "${COMMON[@]}" --state-dir "$STATE"

# --- state dirs that cannot be used -------------------------------------------------
echo "a regular file" >"$T/afile"
baseline
refused "state dir under a regular file" 3 "creating state dir $(re "$T/afile/x"): Not a directory" \
    migrate "$D" "${COMMON[@]}" --state-dir "$T/afile/x"
expect_err "hint: give a writable directory with --state-dir"
for cmd in plan status rollback commit; do
    args=("$D")
    [ $cmd = plan ] && args+=("${COMMON[@]}")
    refused "state dir under a regular file ($cmd)" 3 "state dir $(re "$T/afile/x"): Not a directory" \
        $cmd "${args[@]}" --state-dir "$T/afile/x"
done
refused "state dir is a regular file" 3 "state dir $(re "$T/afile") is not a directory" \
    migrate "$D" "${COMMON[@]}" --state-dir "$T/afile"
[ "$(cat "$T/afile")" = "a regular file" ] || fail "the regular file given as state dir changed"
mkdir "$T/ro"
if chattr +i "$T/ro" 2>/dev/null; then
    refused "immutable state dir" 3 "state dir $(re "$T/ro") is not writable: Operation not permitted" \
        migrate "$D" "${COMMON[@]}" --state-dir "$T/ro"
    refused "state dir in an immutable dir" 3 "creating state dir $(re "$T/ro/state"): Operation not permitted" \
        migrate "$D" "${COMMON[@]}" --state-dir "$T/ro/state"
    chattr -i "$T/ro"
    [ -z "$(ls -A "$T/ro")" ] || fail "something was written into the immutable dir"
else
    note "chattr +i not supported on $T: immutable state dir not tested"
fi

# --- never migrated; locked by another virt2rbd --------------------------------------
refused "rollback, never migrated" 3 "no migration of domain $D is recorded" rollback "$D" --state-dir "$STATE"
refused "commit, never migrated" 3 "no migration of domain $D is recorded" commit "$D" --state-dir "$STATE"
refused "status, never migrated" 3 "no migration of domain $D is recorded in $(re "$STATE")" status "$D" --state-dir "$STATE"

mkdir -p "$STATE/domains/$uuid"
chmod 0700 "$STATE" "$STATE/domains" "$STATE/domains/$uuid"
lock=$STATE/domains/$uuid/lock
# (a stand-in for another virt2rbd: holds the lock until killed, or until this test is gone)
/usr/bin/python3 -c '
import fcntl, os, sys, time
f = open(sys.argv[1], "a")
fcntl.flock(f, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
while True:
    try:
        os.kill(int(sys.argv[3]), 0)
    except ProcessLookupError:
        break
    time.sleep(0.2)' "$lock" "$T/locked" "$$" &
lock_pid=$!
for _ in $(seq 1 100); do [ -e "$T/locked" ] && break; sleep 0.1; done
[ -e "$T/locked" ] || fail "could not take the domain lock"
baseline
refused "domain locked by another virt2rbd" 3 "another virt2rbd is working on domain $D \\(lock $(re "$lock") is held\\)" \
    migrate "$D" "${COMMON[@]}" --state-dir "$STATE"
expect_err "hint: wait for it to finish"
refused "domain locked by another virt2rbd (rollback)" 3 "another virt2rbd is working on domain $D" \
    rollback "$D" --state-dir "$STATE"
kill "$lock_pid"
wait "$lock_pid" 2>/dev/null || true
lock_pid=

# --- the cluster ------------------------------------------------------------------------
note "an operator identity with only mon 'profile rbd' osd 'profile rbd'"
ceph auth get-or-create "client.$WEAK" mon 'profile rbd' osd 'profile rbd' -o "$T/weak.keyring" >/dev/null
baseline
for cmd in migrate plan; do
    refused "operator may not manage users ($cmd)" 3 "client\\.$WEAK may not manage cephx users \\(auth get: Permission denied\\)" \
        $cmd "$D" "${COMMON[@]}" --state-dir "$STATE" --id "$WEAK" --keyring "$T/weak.keyring"
    expect_err "hint: run as a user with mon 'allow \\*'"
done

note "a pool without rbd pool init (used at once: the mgr may not list it yet)"
ceph osd pool create "$PLAIN" 8 8 >/dev/null 2>&1
plain_made=1
baseline
refused "pool not initialised for RBD" 3 "pool '$PLAIN' is not initialised for RBD \\(run: rbd pool init $PLAIN\\)" \
    migrate "$D" --pool "$PLAIN" --client-user "$CU" --state-dir "$STATE"
expect_err "refused \\(1 reason\\)"
refused "pool not initialised for RBD (plan)" 3 "migrate would refuse: 1 reason above" \
    plan "$D" --pool "$PLAIN" --client-user "$CU" --state-dir "$STATE"
expect_out "pool '$PLAIN' is not initialised for RBD"
refused "pool not initialised for RBD (copy)" 3 "pool $PLAIN is not initialised for RBD" \
    copy "$T/d.raw" "$PLAIN/${U}-x"
expect_err "hint: rbd pool init $PLAIN"
ceph osd pool rm "$PLAIN" "$PLAIN" --yes-i-really-really-mean-it >/dev/null 2>&1
plain_made=

note "verify: sources smaller and larger than the image"
rbd import --no-progress "$T/d.raw" "$POOL/${U}-img8" >/dev/null
head -c $((6 * 1048576)) "$T/d.raw" >"$T/small.raw"
cp --sparse=always "$T/d.raw" "$T/big.raw"
truncate -s 12M "$T/big.raw"
baseline
refused "verify: source smaller" 5 "$(re "$T/small.raw") is 6291456 bytes but $POOL/${U}-img8 is 8388608 bytes" \
    verify "$T/small.raw" "$POOL/${U}-img8"
refused "verify: source larger" 5 "$(re "$T/big.raw") is 12582912 bytes but $POOL/${U}-img8 is 8388608 bytes" \
    verify "$T/big.raw" "$POOL/${U}-img8"
run_v2r verify "$T/big.raw" "$POOL/${U}-img8" --format json
expect_rc 5
/usr/bin/python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))
assert v["identical"] is False and v["error"]["exit_code"] == 5, v
assert "12582912 bytes" in v["error"]["message"] and "8388608 bytes" in v["error"]["message"], v' "$T/out"
refused "verify: image missing" 3 "image $POOL/${U}-nosuch does not exist" verify "$T/d.raw" "$POOL/${U}-nosuch"
run_v2r verify "$T/d.raw" "$POOL/${U}-img8"
expect_rc 0

note "migrate: the image name is taken by a larger image (the source is smaller)"
make_islands "$T/taken.raw" $((16 * 1048576)) 1:64 12:64
rbd import --no-progress "$T/taken.raw" "$POOL/$D-vda" >/dev/null
taken_sha=$(image_sha256 "$POOL/$D-vda")
baseline
refused "image taken, larger than the source" 3 "disk vda: image $POOL/$D-vda already exists \\(remove it, or choose another --image-name\\)" \
    migrate "$D" "${COMMON[@]}" --state-dir "$STATE"
[ "$(rbd info --format json "$POOL/$D-vda" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])')" = 16777216 ] ||
    fail "the existing image changed size"
[ "$(image_sha256 "$POOL/$D-vda")" = "$taken_sha" ] || fail "the existing image changed"
rbd rm --no-progress "$POOL/$D-vda" >/dev/null

# --- a corrupted journal ------------------------------------------------------------------
note "migrate $D (shut off, --no-start), then flip a byte in the middle line of its journal"
v2r migrate "$D" "${COMMON[@]}" --no-start --quiet
expect_rc 0
journal=$STATE/domains/$uuid/journal
[ -f "$journal" ] || fail "no journal at $journal"
cp -p "$journal" "$T/journal.good"
line=$(/usr/bin/python3 - "$journal" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
lines = b.split(b"\n")[:-1]
mid = (len(lines) + 1) // 2            # 1-based
off = sum(len(l) + 1 for l in lines[:mid - 1]) + len(lines[mid - 1]) // 2
assert b[off] not in b"\n", off
b[off] ^= 0x01
open(p, "wb").write(b)
print(mid)
PY
)
echo "journal: $(wc -l <"$journal") lines, flipped a byte of line $line"
cmp -s "$journal" "$T/journal.good" && fail "the journal was not changed"
corrupted="journal $(re "$journal") is corrupted at line $line \\(checksum or format mismatch\\)"
baseline
refused "corrupted journal (status)" 3 "$corrupted" status "$D" --state-dir "$STATE"
expect_err "hint: the state of this migration cannot be trusted"
refused "corrupted journal (rollback)" 3 "$corrupted" rollback "$D" --state-dir "$STATE"
refused "corrupted journal (migrate)" 3 "$corrupted" migrate "$D" "${COMMON[@]}" --state-dir "$STATE"
refused "corrupted journal (plan)" 3 "$corrupted" plan "$D" "${COMMON[@]}" --state-dir "$STATE"
refused "corrupted journal (commit)" 3 "$corrupted" commit "$D" --state-dir "$STATE"
refused "corrupted journal (status, json)" 3 "$corrupted" status "$D" --state-dir "$STATE" --format json
/usr/bin/python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["error"]; assert e["exit_code"] == 3 and "corrupted at line" in e["message"], e' "$T/out"
note "status of every domain: exit 0, the corrupted journal named in a warning"
run_v2r status --state-dir "$STATE"
expect_rc 0
expect_err "warning: $corrupted"
expect_unchanged "corrupted journal (status of all)"

note "the intact journal back: rollback works"
cp -p "$T/journal.good" "$journal"
v2r rollback "$D" --remove-images
expect_rc 0
expect_out "rolled back"
[ "$(domain_xml "$D")" = "$(cat "$STATE/domains/$uuid/definition.xml")" ] || fail "the definition was not restored"
