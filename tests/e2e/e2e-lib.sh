# Shared by the end-to-end tests (sourced): integration/lib.sh (temp dir,
# unique prefix $U, images) plus the test guest, and cleanup of what a
# migration test makes besides images: domains, cephx users, libvirt secrets,
# each removed at exit by name (all names carry the test's unique prefix).
# shellcheck disable=SC1091
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/guest-lib.sh"

STATE=$T/state
_e2e_domains=()
_e2e_users=()
own_domain() { _e2e_domains+=("$1"); }
# own_user ID: the cephx user client.ID and the libvirt secret "client.ID secret".
own_user() { _e2e_users+=("$1"); }

_e2e_cleanup() {
    local rc=$?
    set +e
    for d in "${_e2e_domains[@]}"; do guest_undefine "$d" >/dev/null 2>&1; done
    for u in "${_e2e_users[@]}"; do
        ceph auth del "client.$u" >/dev/null 2>&1
        local uuid
        for uuid in $(virsh -q secret-list 2>/dev/null | awk -v u="client.$u secret" '$0 ~ u {print $1}'); do
            virsh secret-undefine "$uuid" >/dev/null 2>&1
        done
    done
    # Images of this test, snapshots included (the rollback point).
    for img in $(rbd ls "$POOL" 2>/dev/null | grep "^$U"); do
        rbd snap purge "$POOL/$img" >/dev/null 2>&1
        rbd rm --no-progress "$POOL/$img" >/dev/null 2>&1
    done
    (exit $rc)
    _cleanup
}
trap _e2e_cleanup EXIT

# domain_xml NAME: the persistent definition with secure info.
domain_xml() { virsh dumpxml --inactive --security-info "$1"; }
# snapshot of everything a migration may touch, for "nothing changed" checks.
world() {
    echo "== images"; rbd ls "$POOL" | grep "^$U" || true
    echo "== users"; ceph auth ls 2>/dev/null | grep "^client\.$U" || true
    echo "== secrets"; virsh -q secret-list | grep "client\.$U" || true
    local d
    for d in "$@"; do echo "== $d"; domain_xml "$d"; virsh domstate "$d"; done
}
v2r() { run_v2r "$@" --state-dir "$STATE"; }
