# Shared by the integration tests: sourced, never run.
#
# Each test gets its own temp dir (world-traversable, under /var/tmp, so qemu
# running as libvirt-qemu can read what it must), its own unique prefix for
# image and user names, and a cleanup trap that removes what the test made:
# images it registered, loop devices it attached, its temp dir.
set -euo pipefail

: "${V2R_BIN:?V2R_BIN must point at the virt2rbd binary}"
: "${V2R_LAB_STATE:?V2R_LAB_STATE must name the state file of the lab fixture}"
LAB=$(sed -n 1p "$V2R_LAB_STATE")
# shellcheck disable=SC1091
source "$LAB/env"
POOL=$V2R_LAB_POOL

T=$(mktemp -d /var/tmp/v2r-t.XXXXXX)
chmod 0755 "$T"
# A prefix unique to this test run: image and user names start with it.
U="t$(basename "$T" | cut -d. -f2 | tr 'A-Z' 'a-z')$$"
TEST_NAME=$(basename "$0" .sh)

_images=()

# _own_loops: every loop device over a file of $T, found by its backing file
# in sysfs (attach_loop runs in $(...), a subshell: nothing it records in a
# variable survives, and a name alone could by now be another test's device).
_own_loops() {
    local f back
    for f in /sys/block/loop*/loop/backing_file; do
        back=$(cat "$f" 2>/dev/null) || continue
        case $back in "$T"/*) f=${f#/sys/block/}; echo "/dev/${f%%/*}" ;; esac
    done
}

# detach_own_loops: detaches them, and checks they are gone (a device still
# open, by qemu or a killed tool not yet reaped, is detached by the kernel at
# its last close: losetup -d sets autoclear).
detach_own_loops() {
    local dev i left
    for ((i = 0; i < 50; i++)); do
        left=$(_own_loops)
        [ -z "$left" ] && return 0
        for dev in $left; do
            [ "$(cat "/sys/block/${dev#/dev/}/loop/autoclear" 2>/dev/null)" = 1 ] && continue
            losetup -d "$dev" 2>/dev/null
        done
        sleep 0.2
    done
    echo "WARNING: $TEST_NAME: loop devices over $T still attached: $(echo $left)" >&2
    losetup -l $left >&2 2>/dev/null
    return 1
}
_cleanup() {
    local rc=$?
    set +e
    for img in "${_images[@]}"; do rbd rm --no-progress "$img" >/dev/null 2>&1; done
    detach_own_loops
    rm -rf "$T"
    if [ $rc -eq 0 ]; then echo "PASS: $TEST_NAME"; else echo "FAIL: $TEST_NAME (exit $rc)"; fi
    exit $rc
}
trap _cleanup EXIT

fail() { echo "FAIL: $TEST_NAME: $*" >&2; exit 1; }
note() { echo "--- $*"; }

# own_image POOL/IMAGE: removed at exit, whatever happens.
own_image() { _images+=("$1"); }

# _loop_named_by_domain DEV: true when a libvirt domain's definition (or a
# running one's live XML) names DEV as a disk source.
_loop_named_by_domain() {
    grep -qsF -e "dev='$1'" -e "dev=\"$1\"" /etc/libvirt/qemu/*.xml /run/libvirt/qemu/*.xml 2>/dev/null
}

# attach_loop FILE: prints the loop device, detached at exit. A device that a
# domain still names (a run killed before its cleanup leaves the definition
# behind) is passed over: it stays attached to FILE, ours, until exit, and
# FILE is attached again to the next free one; a fresh disk must never look
# shared with a VM it has nothing to do with.
attach_loop() {
    local dev i
    for ((i = 0; i < 16; i++)); do
        dev=$(losetup -f --show "$1") || return 1
        _loop_named_by_domain "$dev" || { echo "$dev"; return 0; }
        echo "NOTE: $TEST_NAME: $dev is named by a leftover libvirt domain: passed over" >&2
    done
    echo "$dev"
}

# run_v2r ARGS...: runs virt2rbd, output in $T/out and $T/err, exit code in $RC.
run_v2r() {
    set +e
    "$V2R_BIN" "$@" >"$T/out" 2>"$T/err"
    RC=$?
    set -e
}

# expect_rc CODE: the last run_v2r ended with CODE.
expect_rc() {
    if [ "$RC" != "$1" ]; then
        echo "stdout:" >&2; cat "$T/out" >&2
        echo "stderr:" >&2; cat "$T/err" >&2
        fail "expected exit $1, got $RC"
    fi
}

# expect_err REGEX: stderr of the last run_v2r matches.
expect_err() {
    grep -Eq -- "$1" "$T/err" || { cat "$T/err" >&2; fail "stderr does not match /$1/"; }
}

# make_islands FILE SIZE_BYTES OFFSET_MIB:LEN_KIB...: a sparse file of SIZE
# bytes with random data at the given places (holes everywhere else).
make_islands() {
    local file=$1 size=$2
    shift 2
    truncate -s "$size" "$file"
    local spec off len
    for spec in "$@"; do
        off=${spec%%:*}
        len=${spec##*:}
        dd if=/dev/urandom of="$file" bs=1K seek=$((off * 1024)) count="$len" conv=notrunc status=none
    done
}

# sha256 of an image's content.
image_sha256() { rbd export --no-progress "$1" - 2>/dev/null | sha256sum | cut -d' ' -f1; }
file_sha256() { sha256sum <"$1" | cut -d' ' -f1; }

# Bytes used by an image (rbd du, which counts whole objects with fast-diff).
image_used() { rbd du --format json "$1" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["images"][0]["used_size"])'; }

# Bytes of non-zero data of a source, rounded up to whole 4 MiB objects.
data_objects_bytes() {
    python3 - "$1" <<'PY'
import sys
obj = 4 << 20
n = 0
with open(sys.argv[1], 'rb', buffering=0) as f:
    while True:
        b = f.read(obj)
        if not b:
            break
        if b.count(0) != len(b):
            n += 1
print(n * obj)
PY
}

pool_images() { rbd ls "$POOL" 2>/dev/null | grep "^$U" | sort || true; }
