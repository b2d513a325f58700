# The domain-XML corpus (issue 12): 51 real domain XMLs from the test suites
# of libvirt, virt-manager, nova and oVirt vdsm, each given small real disks
# (files and images by qemu-img, block devices on loop devices), defined on
# the lab's libvirtd, planned and migrated offline (no guest boots). Every one
# must end migrated (schema-valid, every element but the moved disks' source
# and driver kept, rollback exact) or refused with its reason (or rejected by
# libvirt itself), as the EXPECTED table of corpus.py says; a mismatch fails
# with the file's name. The corpus is read where it is, never copied into
# the project: $V2R_CORPUS, else ../shared/corpus/libvirt-xml beside the
# source tree or beside the repository it was cloned from; absent: skipped.
# V2R_CORPUS_ONLY=GLOB runs a subset, V2R_CORPUS_JOBS=N (default 2) at once.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=${V2R_SRC:-$(cd "$here/../.." && pwd)}

find_corpus() {
    local c origin
    if [ -n "${V2R_CORPUS:-}" ]; then echo "$V2R_CORPUS"; return; fi
    c=$src/../shared/corpus/libvirt-xml
    [ -d "$c" ] && { cd "$c" && pwd; return; }
    origin=$(git -C "$src" remote get-url origin 2>/dev/null) || return 0
    case $origin in
        file://*) origin=${origin#file://} ;;
        /*) ;;
        *) return 0 ;;  # a remote URL: no shared directory beside it
    esac
    c=$origin/../shared/corpus/libvirt-xml
    [ -d "$c" ] && { cd "$c" && pwd; }
    return 0
}
corpus=$(find_corpus)
if [ -z "$corpus" ] || ! ls "$corpus"/*.xml >/dev/null 2>&1; then
    echo "SKIP: t_corpus: no domain-XML corpus (set V2R_CORPUS, or put it at ../shared/corpus/libvirt-xml)"
    exit 0
fi

source "$here/e2e-lib.sh"
# What the harness makes (it removes each itself): domains ${U}cNN, cephx
# users ${U}cNNu with their libvirt secrets, images ${U}cNN-*. Should it be
# killed midway, whatever is left is removed here by prefix (one listing
# each, not a lookup per name).
_corpus_leftovers() {
    local d u uuid
    for d in $(virsh -q list --all --name 2>/dev/null | grep "^${U}c"); do
        virsh destroy "$d" >/dev/null 2>&1
        virsh undefine --nvram "$d" >/dev/null 2>&1 || virsh undefine "$d" >/dev/null 2>&1
    done
    for uuid in $(virsh -q secret-list 2>/dev/null | awk -v p="client.${U}c" 'index($0, p) {print $1}'); do
        virsh secret-undefine "$uuid" >/dev/null 2>&1
    done
    for u in $(ceph auth ls 2>/dev/null | grep "^client\.${U}c"); do ceph auth del "$u" >/dev/null 2>&1; done
    for d in $(virsh -q pool-list --all --name 2>/dev/null | grep "^${U}c"); do
        virsh pool-destroy "$d" >/dev/null 2>&1
        virsh pool-undefine "$d" >/dev/null 2>&1
    done
    stop_exports
}
# qemu-nbd exports over this test's sockets (virt2rbd stops its own; a killed
# run's may be left), by pid.
stop_exports() {
    local pid
    for pid in $(pgrep -f "qemu-nbd.*$T" 2>/dev/null); do kill "$pid" 2>/dev/null; done
}
trap 'rc=$?; set +e; _corpus_leftovers; (exit $rc); _e2e_cleanup' EXIT

note "corpus $corpus: $(ls "$corpus"/*.xml | wc -l) files"
export POOL U T
python3 "$here/corpus.py" "$corpus" || fail "corpus outcomes differ from EXPECTED (the FAIL lines above)"
if pgrep -f "qemu-nbd.*$T" >/dev/null; then fail "an export outlived the run: $(pgrep -af "qemu-nbd.*$T")"; fi
left=$(losetup -l -n -O NAME,BACK-FILE | grep "$T" || true)
[ -z "$left" ] || fail "loop devices left attached: $left"
left=$(rbd ls "$POOL" | grep "^${U}c" || true)
[ -z "$left" ] || fail "images left behind: $left"
left=$(virsh -q list --all --name | grep "^${U}c" || true)
[ -z "$left" ] || fail "domains left behind: $left"
left=$(ceph auth ls 2>/dev/null | grep "^client\.${U}c" || true)
[ -z "$left" ] || fail "cephx users left behind: $left"
left=$(virsh -q secret-list | grep "client\.${U}c" || true)
[ -z "$left" ] || fail "libvirt secrets left behind: $left"
left=$(virsh -q pool-list --all --name | grep "^${U}c" || true)
[ -z "$left" ] || fail "storage pools left behind: $left"
