# --keyring -: the keyring comes on stdin (how the fleet hands a host its key): a user whose key
# is in no file librados knows works with it, through the command line or CEPH_ARGS; without it,
# or with another key, the monitors refuse; an empty stdin is a usage error; the key is in no
# output, and no file is left.
source "$(dirname "$0")/lib.sh"

user=${U}kr
cleanup_user() { ceph auth del "client.$user" >/dev/null 2>&1 || true; }
trap 'cleanup_user; _cleanup' EXIT
ceph auth get-or-create "client.$user" mon 'profile rbd' osd "profile rbd pool=$POOL" >"$T/keyring"
chmod 0600 "$T/keyring"
key=$(ceph auth print-key "client.$user")

src=$T/disk.raw
make_islands "$src" $((8 * 1048576)) 0:64 3:128

note "the user's keyring on stdin"
set +e
"$V2R_BIN" copy "$src" "$POOL/${U}-a" --id "$user" --keyring - <"$T/keyring" >"$T/out" 2>"$T/err"
RC=$?
set -e
own_image "$POOL/${U}-a"
expect_rc 0
grep -q "verified" "$T/out" "$T/err" || fail "no verification reported"
if grep -qF "$key" "$T/out" "$T/err"; then fail "the key is in virt2rbd's output"; fi

note "--keyring - through CEPH_ARGS"
set +e
CEPH_ARGS="--id $user --keyring -" "$V2R_BIN" verify "$src" "$POOL/${U}-a" <"$T/keyring" >"$T/out" 2>"$T/err"
RC=$?
set -e
expect_rc 0

note "without the key, the monitors refuse"
run_v2r copy "$src" "$POOL/${U}-b" --id "$user" --connect-timeout 10 </dev/null
[ "$RC" -ne 0 ] || fail "copy as $user without its key succeeded"
expect_err "$user"

note "another key on stdin is refused"
sed "s|key = .*|key = $(ceph auth print-key client.admin)|" "$T/keyring" >"$T/wrong"
set +e
"$V2R_BIN" copy "$src" "$POOL/${U}-b" --id "$user" --keyring - --connect-timeout 10 <"$T/wrong" >"$T/out" 2>"$T/err"
RC=$?
set -e
[ "$RC" -ne 0 ] || fail "copy with the wrong key succeeded"
if rbd info "$POOL/${U}-b" >/dev/null 2>&1; then own_image "$POOL/${U}-b"; fail "an image was created with the wrong key"; fi

note "an empty stdin is a usage error"
set +e
"$V2R_BIN" copy "$src" "$POOL/${U}-b" --id "$user" --keyring - </dev/null >"$T/out" 2>"$T/err"
RC=$?
set -e
expect_rc 2
expect_err "stdin does not hold a keyring"
