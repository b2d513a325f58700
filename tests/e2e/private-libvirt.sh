# tests/e2e/private-libvirt.sh — a libvirtd of one test's own (sourced, never run): for tests that
# restart or stop libvirtd, which must not disturb the machine's libvirtd other tests share.
#
#   plv_up DIR      start virtlogd + libvirtd in a private mount namespace (tmpfs over /run/libvirt,
#                   /var/lib/libvirt, /var/cache/libvirt, /var/log/libvirt; a copy of /etc/libvirt
#                   without its domains and secrets in DIR); sets PLV_URI (reach it from outside the
#                   namespace, e.g. LIBVIRT_DEFAULT_URI=$PLV_URI) and PLV_HOLDER (the namespace's holder)
#   plv_stop_libvirtd   SIGTERM the private libvirtd (by its pid file) and wait until it is gone
#   plv_start_libvirtd  start it again in the same namespace and wait until it answers
#   plv_down        stop everything plv_up started, by pid (the namespace's mounts go with it)
# Seen working on Debian 12 / libvirt 9.0 (docs: shared field notes, "Several libvirtd instances").

PLV_HOLDER=
PLV_URI=
_plv_ns() { nsenter -t "$PLV_HOLDER" -m -- "$@"; }
_plv_pid() { cat "/proc/$PLV_HOLDER/root/run/libvirt/$1.pid" 2>/dev/null; }
_plv_answers() { timeout 10 virsh -c "$PLV_URI" version </dev/null >/dev/null 2>&1; }

plv_up() {
    local dir=$1
    mkdir -p "$dir/etc"
    cp -a /etc/libvirt/. "$dir/etc/"
    rm -rf "$dir/etc/qemu/"*.xml "$dir/etc/qemu/autostart" "$dir/etc/secrets" "$dir/etc/storage" "$dir/etc/qemu/networks/autostart"
    unshare -m --propagation private sleep infinity </dev/null >/dev/null 2>&1 &
    PLV_HOLDER=$!
    local i
    for ((i = 0; i < 50; i++)); do
        [ "$(readlink "/proc/$PLV_HOLDER/ns/mnt" 2>/dev/null)" != "$(readlink /proc/self/ns/mnt)" ] && break
        sleep 0.1
    done
    _plv_ns sh -c "mount -t tmpfs tmpfs /run/libvirt && mount -t tmpfs tmpfs /var/lib/libvirt &&
        mount -t tmpfs tmpfs /var/cache/libvirt && mount -t tmpfs tmpfs /var/log/libvirt &&
        mount --bind '$dir/etc' /etc/libvirt &&
        mkdir -p /var/lib/libvirt/qemu /var/log/libvirt/qemu /var/cache/libvirt/qemu" || return 1
    PLV_URI="qemu+unix:///system?socket=/proc/$PLV_HOLDER/root/run/libvirt/libvirt-sock"
    _plv_ns env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 virtlogd -d -p /run/libvirt/virtlogd.pid \
        </dev/null >>"$dir/virtlogd.out" 2>&1 || return 1
    plv_start_libvirtd
}

plv_start_libvirtd() {
    _plv_ns env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 libvirtd -d -p /run/libvirt/libvirtd.pid \
        </dev/null >/dev/null 2>&1 || return 1
    local i
    for ((i = 0; i < 150; i++)); do
        _plv_answers && return 0
        sleep 0.2
    done
    echo "private-libvirt: libvirtd does not answer at $PLV_URI" >&2
    return 1
}

plv_stop_libvirtd() {
    local pid i
    pid=$(_plv_pid libvirtd) || return 0
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
}

plv_down() {
    [ -n "$PLV_HOLDER" ] || return 0
    local pid
    plv_stop_libvirtd
    pid=$(_plv_pid virtlogd) && [ -n "$pid" ] && kill "$pid" 2>/dev/null
    kill "$PLV_HOLDER" 2>/dev/null
    wait "$PLV_HOLDER" 2>/dev/null
    PLV_HOLDER=
    return 0
}
