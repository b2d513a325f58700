# Bad inputs: each gets a clear message, its exit code, and leaves no image.
source "$(dirname "$0")/lib.sh"

src=$T/disk.raw
make_islands "$src" $((8 * 1048576)) 0:64
before=$(pool_images)

check_nothing_left() {
    [ "$(pool_images)" = "$before" ] || fail "$1: images changed: $(pool_images)"
}

note "missing source"
run_v2r copy "$T/nope.raw" "$POOL/${U}-a"
expect_rc 3; expect_err "source $T/nope.raw: No such file"; check_nothing_left missing-source

note "source is a directory"
run_v2r copy "$T" "$POOL/${U}-a"
expect_rc 3; expect_err "is a directory"; check_nothing_left directory

note "image exists"
rbd create --size 4M "$POOL/${U}-taken"
own_image "$POOL/${U}-taken"
before=$(pool_images)
run_v2r copy "$src" "$POOL/${U}-taken"
expect_rc 3; expect_err "already exists"; expect_err "rbd rm"
[ "$(rbd info --format json "$POOL/${U}-taken" | python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])')" = 4194304 ] \
    || fail "the existing image was changed"
check_nothing_left image-exists

note "pool missing"
run_v2r copy "$src" "${U}nopool/img"
expect_rc 3; expect_err "pool '${U}nopool' does not exist"; check_nothing_left pool-missing

note "target not POOL/IMAGE"
run_v2r copy "$src" "justaname"
expect_rc 2; expect_err "POOL/IMAGE"

note "--id with --name"
run_v2r copy "$src" "$POOL/${U}-a" --id admin --name client.admin
expect_rc 2; expect_err "mutually exclusive"; check_nothing_left id-and-name

note "keyring file missing"
run_v2r copy "$src" "$POOL/${U}-a" --keyring "$T/missing.keyring"
expect_rc 3; expect_err "missing.keyring"; check_nothing_left keyring-missing

note "wrong keyring (a valid key that is not client.admin's)"
printf '[client.admin]\n\tkey = AQBzKXtlAAAAABAAvNHQS8h0W1qWSbZfVRmU3A==\n' >"$T/wrong.keyring"
run_v2r copy "$src" "$POOL/${U}-a" --keyring "$T/wrong.keyring" --connect-timeout 20
expect_rc 3; expect_err "client.admin"; check_nothing_left wrong-keyring

note "unreachable monitor: an error within 60 s, not a hang"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf '[global]\nmon host = 127.0.0.1:%s\n' "$port" >"$T/dead.conf"
start=$(date +%s)
run_v2r copy "$src" "$POOL/${U}-a" --conf "$T/dead.conf" --keyring "$LAB/ceph.client.admin.keyring" --connect-timeout 10
elapsed=$(( $(date +%s) - start ))
expect_rc 3; expect_err "monitors"
[ "$elapsed" -lt 60 ] || fail "took $elapsed s to give up"
echo "gave up after $elapsed s"
check_nothing_left unreachable

note "unknown option"
run_v2r copy "$src" "$POOL/${U}-a" --no-such-option
expect_rc 2
