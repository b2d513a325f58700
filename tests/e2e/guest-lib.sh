# tests/e2e/guest-lib.sh — a real guest for virt2rbd's end-to-end tests: sourced, never run.
#
# Functions only (no side effects when sourced); safe under `set -euo pipefail`. Each function
# returns non-zero with a message on stderr ("guest-lib: ...") when it fails.
# The guest is built by scripts/make-guest (see docs/test-guest.md for what it prints).
#
#   guest_build [DIR]                    build/reuse the guest in DIR (default $V2R_GUEST_CACHE,
#                                        else /var/tmp/v2r-guest-cache); sets GUEST_DIR,
#                                        GUEST_KERNEL, GUEST_INITRD
#   guest_define [OPTS] NAME WORKDIR DISK...
#                                        write WORKDIR/NAME.xml and `virsh define` it (again:
#                                        updates the persistent definition). DISK is
#                                        block:/dev/loopN:vda, file:/path/raw.img:vdb or file-qcow2:/path/a.qcow2:vdc.
#                                        Serial log: WORKDIR/NAME.console.log (appended, one
#                                        file for every boot). OPTS:
#                                          --mode MODE        v2r.mode=MODE (default check)
#                                          --writer vdX       v2r.mode=writer v2r.disk=vdX
#                                          --cmdline STR      the whole kernel command line
#                                                             (default: $V2R_GUEST_CMDLINE, else
#                                                             "console=ttyS0 quiet v2r.mode=check")
#                                          --append STR       more of it, e.g. "v2r.sha=vda"
#                                          --memory MIB       default 256
#   guest_log NAME WORKDIR               print the path of the serial log
#   guest_start NAME                     virsh start
#   guest_boots LOGFILE                  number of boots recorded in the log
#   guest_wait_ready LOGFILE TIMEOUT_S [MIN_BOOTS]
#                                        wait until the log holds at least MIN_BOOTS boots (default
#                                        1) and the last one printed V2R-READY; on timeout or a
#                                        V2R-ERROR print the log tail and fail. Restarting a guest
#                                        whose log already has boots: n=$(guest_boots LOG); start;
#                                        guest_wait_ready LOG 60 $((n + 1)).
#   guest_last_boot LOGFILE              the V2R-* lines of the last boot (CRs removed)
#   guest_disk_sha LOGFILE DEV           SHA256 of DEV (vda...) seen by the last boot
#   guest_disk_size LOGFILE DEV          its size in bytes
#   guest_files LOGFILE DEV              "<sha256>  <path>" for each file of DEV's ext4, as seen
#                                        by the last boot (sha256sum format, sorted by path)
#   guest_manifest LOGFILE DEV           OK, "FAILED <n>", or fails if the guest printed none
#   guest_state NAME                     virsh domstate (e.g. "running", "shut off")
#   guest_wait_state NAME STATE TIMEOUT_S
#                                        sets GUEST_ELAPSED (seconds, 0.1 s resolution)
#   guest_shutdown NAME [TIMEOUT_S]      virsh shutdown (ACPI), wait for "shut off" (default
#                                        30 s); sets GUEST_ELAPSED
#   guest_destroy NAME                   virsh destroy (ignores "not running")
#   guest_undefine NAME                  destroy if running, undefine; never fails
#   guest_acks LOGFILE                   record numbers acknowledged by the writer (last boot)
#   guest_hb_stats LOGFILE [FROM_BYTE [TO_BYTE]]
#                                        heartbeat gaps of the last boot (or the gaps that end
#                                        within the byte range of the log, e.g. offsets taken
#                                        with `stat -c %s LOG` around a pivot): prints
#                                        "beats=N median_ms=X max_ms=Y max_at_ms=T" (T: guest
#                                        uptime at the end of the largest gap)
#   guest_watch_start LOGFILE OUTFILE    stamp the log with host time: a background process appends
#                                        "<host epoch ms> <V2R line>" to OUTFILE for every V2R line
#                                        written to LOGFILE from now on (polls every 5 ms); sets
#                                        GUEST_WATCH_PID. The guest's own V2R-HB times come from its
#                                        clock, which stands still while the VM is paused (a 2 s
#                                        `virsh suspend` left no gap in them): use this to see pauses.
#   guest_watch_stop                     stop that process (by GUEST_WATCH_PID)
#   guest_watch_hb_stats OUTFILE [FROM_MS [TO_MS]]
#                                        heartbeat gaps in host time (optionally only the gaps
#                                        that end within FROM_MS..TO_MS, epoch ms as `date +%s%3N`):
#                                        "beats=N median_ms=X max_ms=Y max_at_ms=T" (T: host epoch ms)
#   guest_verify_records IMAGE LOGFILE   every record acked in the last boot of LOGFILE is intact
#                                        in IMAGE (a file or device, e.g. an `rbd export`); prints
#                                        "acked=N verified=N first=A last=B extra=E" (E: intact
#                                        records past the last ack: in flight when it stopped)
#   make_fs_image FILE SIZE_MIB SRCDIR   sparse FILE holding an ext4 made from SRCDIR plus a
#                                        /MANIFEST.sha256 of SRCDIR's files (SRCDIR unchanged)
#   fs_expected_files SRCDIR             what guest_files prints for an image made from SRCDIR
#
# The libvirt URI is $LIBVIRT_DEFAULT_URI, else qemu:///system.

# shellcheck disable=SC2034,SC2119,SC2120  # GUEST_* are for the caller; guest_build's DIR is optional
GUEST_DEFAULT_CACHE=/var/tmp/v2r-guest-cache
GUEST_DEFAULT_CMDLINE="console=ttyS0 quiet v2r.mode=check"
_GUEST_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# Plain python3 (stdlib only): a pyenv shim earlier in PATH would only add start-up time.
_GPY=/usr/bin/python3
[ -x "$_GPY" ] || _GPY=python3
_guest_err() { echo "guest-lib: $*" >&2; }
_gvirsh() { virsh -q -c "${LIBVIRT_DEFAULT_URI:-qemu:///system}" "$@"; }
_gxml() { # XML-escape $1
    local s=$1
    s=${s//&/&amp;}; s=${s//</&lt;}; s=${s//>/&gt;}; s=${s//\'/&apos;}; s=${s//\"/&quot;}
    printf '%s' "$s"
}
_gnow() { date +%s.%N; }
_gsince() { awk -v a="$1" -v b="$(_gnow)" 'BEGIN { printf "%.1f", b - a }'; }

guest_build() {
    local dir=${1:-${V2R_GUEST_CACHE:-$GUEST_DEFAULT_CACHE}}
    local out
    if ! mkdir -p "$dir" || ! chmod 0755 "$dir"; then _guest_err "guest_build: cannot create $dir"; return 1; fi
    if ! out=$("$_GUEST_TOP/scripts/make-guest" "$dir" 2>&1); then
        _guest_err "scripts/make-guest $dir failed:"
        echo "$out" >&2
        return 1
    fi
    GUEST_DIR=$(tail -n 1 <<<"$out")
    GUEST_KERNEL=$GUEST_DIR/vmlinuz
    GUEST_INITRD=$GUEST_DIR/initrd.img
}

guest_log() { echo "$2/$1.console.log"; }

guest_define() {
    local cmdline=${V2R_GUEST_CMDLINE:-$GUEST_DEFAULT_CMDLINE} mem=256 mode='' append=''
    while [ $# -gt 0 ]; do
        case $1 in
            --cmdline) cmdline=$2; shift 2 ;;
            --mode) mode="v2r.mode=$2"; shift 2 ;;
            --writer) mode="v2r.mode=writer v2r.disk=$2"; shift 2 ;;
            --append) append+=" $2"; shift 2 ;;
            --memory) mem=$2; shift 2 ;;
            --) shift; break ;;
            -*) _guest_err "guest_define: unknown option $1"; return 2 ;;
            *) break ;;
        esac
    done
    if [ $# -lt 3 ]; then
        _guest_err "usage: guest_define [--mode M|--writer vdX|--cmdline S|--append S|--memory MIB] NAME WORKDIR DISK..."
        return 2
    fi
    if [ -n "$mode" ]; then
        cmdline=$(sed -E 's/(^| )v2r\.(mode|disk)=[^ ]*//g' <<<"$cmdline")
        cmdline="$cmdline $mode"
    fi
    cmdline="$cmdline$append"
    local name=$1 workdir=$2
    shift 2
    if [ -z "${GUEST_KERNEL:-}" ] || [ ! -f "$GUEST_KERNEL" ]; then
        guest_build || return 1
    fi
    case $workdir in /*) ;; *) workdir=$(cd "$workdir" && pwd) || return 1 ;; esac
    [ -d "$workdir" ] || { _guest_err "guest_define: no directory $workdir"; return 1; }
    case $workdir in
        /root|/root/*) _guest_err "guest_define: $workdir is under /root: qemu cannot reach it"; return 1 ;;
    esac
    chmod 0755 "$workdir" || return 1
    local log=$workdir/$name.console.log xml=$workdir/$name.xml
    # qemu (libvirt-qemu) or virtlogd (root) writes the log: pre-create it, writable by both.
    touch "$log" && chmod 0644 "$log" || return 1
    if getent passwd libvirt-qemu >/dev/null; then chown libvirt-qemu: "$log" 2>/dev/null || true; fi

    local disks="" spec type path target
    for spec in "$@"; do
        type=${spec%%:*}
        target=${spec##*:}
        path=${spec#*:}
        path=${path%:*}
        if [ "$type" = "$spec" ] || [ "$path" = "$target" ] || [ -z "$path" ] || [[ ! $target =~ ^vd[a-z]+$ ]]; then
            _guest_err "guest_define: bad disk '$spec' (want block:/dev/loopN:vda or file:/path/raw.img:vdb)"
            return 2
        fi
        case $type in
            block)
                [ -b "$path" ] || { _guest_err "guest_define: $path is not a block device"; return 1; }
                disks+="    <disk type='block' device='disk'>
      <driver name='qemu' type='raw' cache='none' io='native'/>
      <source dev='$(_gxml "$path")'/>
      <target dev='$target' bus='virtio'/>
    </disk>
"
                ;;
            file|file-*)
                # file-qcow2:PATH:vdb: an image file in that format (file: raw).
                local format=raw
                [ "$type" = file ] || format=${type#file-}
                [ -f "$path" ] || { _guest_err "guest_define: $path is not a file"; return 1; }
                chmod o+r "$path" 2>/dev/null || true
                disks+="    <disk type='file' device='disk'>
      <driver name='qemu' type='$format' cache='none' io='native'/>
      <source file='$(_gxml "$path")'/>
      <target dev='$target' bus='virtio'/>
    </disk>
"
                ;;
            *) _guest_err "guest_define: bad disk type '$type' in '$spec' (block, file or file-FORMAT)"; return 2 ;;
        esac
    done

    # Redefining an existing domain needs its uuid (a new one would be refused).
    local uuid uuid_xml=
    if uuid=$(_gvirsh domuuid "$name" 2>/dev/null) && [ -n "$uuid" ]; then
        uuid_xml="
  <uuid>$uuid</uuid>"
    fi
    cat >"$xml" <<EOF
<domain type='qemu'>
  <name>$(_gxml "$name")</name>$uuid_xml
  <memory unit='MiB'>$mem</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>$(_gxml "$GUEST_KERNEL")</kernel>
    <initrd>$(_gxml "$GUEST_INITRD")</initrd>
    <cmdline>$(_gxml "$cmdline")</cmdline>
  </os>
  <features>
    <acpi/>
  </features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
$disks    <!-- libvirt adds the matching <console type='file'> itself (a <console type='serial'> is refused) -->
    <serial type='file'>
      <source path='$(_gxml "$log")' append='on'/>
      <target port='0'/>
    </serial>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
    chmod 0644 "$xml"
    local out
    if ! out=$(_gvirsh define "$xml" 2>&1); then
        _guest_err "guest_define: virsh define $xml failed: $out"
        return 1
    fi
}

guest_start() {
    local out
    if ! out=$(_gvirsh start "$1" 2>&1); then
        _guest_err "guest_start: virsh start $1 failed: $out"
        return 1
    fi
}

guest_state() { _gvirsh domstate "$1" 2>/dev/null | head -n 1; }

guest_wait_state() {
    local name=$1 want=$2 timeout=$3 t0 st
    t0=$(_gnow)
    while :; do
        st=$(guest_state "$name" || true)
        if [ "$st" = "$want" ]; then
            GUEST_ELAPSED=$(_gsince "$t0")
            return 0
        fi
        if awk -v a="$t0" -v b="$(_gnow)" -v t="$timeout" 'BEGIN { exit !(b - a >= t) }'; then
            GUEST_ELAPSED=$(_gsince "$t0")
            _guest_err "guest_wait_state: $name is '$st', not '$want', after ${timeout}s"
            return 1
        fi
        sleep 0.1
    done
}

guest_shutdown() {
    local name=$1 timeout=${2:-30} out
    if ! out=$(_gvirsh shutdown "$name" 2>&1); then
        _guest_err "guest_shutdown: virsh shutdown $name failed: $out"
        return 1
    fi
    guest_wait_state "$name" "shut off" "$timeout" || {
        _guest_err "guest_shutdown: $name ignored the ACPI shutdown request"
        return 1
    }
}

guest_destroy() {
    local out
    if ! out=$(_gvirsh destroy "$1" 2>&1); then
        case $out in *"not running"*) return 0 ;; esac
        _guest_err "guest_destroy: virsh destroy $1 failed: $out"
        return 1
    fi
}

guest_undefine() {
    _gvirsh destroy "$1" >/dev/null 2>&1 || true
    _gvirsh undefine "$1" >/dev/null 2>&1 || true
    return 0
}

# The V2R-* lines of a log (or of its bytes FROM..TO), CRs removed, anything before the V2R-
# prefix on a line (an interleaved kernel message) dropped.
_guest_lines() {
    local log=$1 from=${2:-0} to=${3:-}
    [ -f "$log" ] || { _guest_err "no log file $log"; return 1; }
    if [ -n "$to" ]; then
        tail -c +$((from + 1)) "$log" | head -c $((to - from))
    else
        tail -c +$((from + 1)) "$log"
    fi | tr -d '\r' | awk '{
        # One V2R line each: a VM destroyed mid-line leaves a torn line that the next boot
        # continues ("V2R-ACK 3V2R-GUEST BOOT"); split it, or that boot goes uncounted.
        s = $0
        while ((i = index(s, "V2R-")) > 0) {
            s = substr(s, i); j = index(substr(s, 5), "V2R-")
            if (j == 0) { print s; break }
            print substr(s, 1, j + 3); s = substr(s, j + 4)
        }
    }'
}

guest_boots() {
    local n
    n=$(_guest_lines "$1" | grep -c '^V2R-GUEST BOOT' || true)
    echo "${n:-0}"
}

guest_last_boot() {
    local lines
    lines=$(_guest_lines "$1") || return 1
    awk '/^V2R-GUEST BOOT/ { n = 0; delete l } { l[n++] = $0 } END { for (i = 0; i < n; i++) print l[i] }' \
        <<<"$lines"
}

guest_wait_ready() {
    local log=$1 timeout=$2 min=${3:-1} t0 boots last
    t0=$(_gnow)
    while :; do
        if [ -f "$log" ]; then
            boots=$(guest_boots "$log")
            if [ "$boots" -ge "$min" ]; then
                last=$(guest_last_boot "$log")
                if grep -q '^V2R-ERROR' <<<"$last"; then
                    _guest_err "guest_wait_ready: the guest reported an error ($log):"
                    grep '^V2R-ERROR' <<<"$last" >&2
                    tail -n 30 "$log" | tr -d '\r' >&2
                    return 1
                fi
                if grep -q '^V2R-READY' <<<"$last"; then
                    GUEST_ELAPSED=$(_gsince "$t0")
                    return 0
                fi
            fi
        fi
        if awk -v a="$t0" -v b="$(_gnow)" -v t="$timeout" 'BEGIN { exit !(b - a >= t) }'; then
            _guest_err "guest_wait_ready: no V2R-READY in $log after ${timeout}s (boots seen: ${boots:-0}, wanted >= $min); log tail:"
            tail -n 30 "$log" 2>/dev/null | tr -d '\r' >&2
            return 1
        fi
        sleep 0.2
    done
}

guest_disk_sha() {
    local v
    v=$(guest_last_boot "$1" | awk -v d="$2" '$1 == "V2R-DISK" && $2 == d { print $6 }' | tail -n 1)
    [ -n "$v" ] || { _guest_err "guest_disk_sha: no V2R-DISK line for $2 in the last boot of $1"; return 1; }
    [[ $v =~ ^[0-9a-f]{64}$ ]] || { _guest_err "guest_disk_sha: the guest printed '$v' for $2 (v2r.sha=...?)"; return 1; }
    echo "$v"
}

guest_disk_size() {
    local v
    v=$(guest_last_boot "$1" | awk -v d="$2" '$1 == "V2R-DISK" && $2 == d { print $4 }' | tail -n 1)
    [ -n "$v" ] || { _guest_err "guest_disk_size: no V2R-DISK line for $2 in the last boot of $1"; return 1; }
    echo "$v"
}

guest_files() {
    local last
    last=$(guest_last_boot "$1") || return 1
    if ! grep -q "^V2R-FILES $2 " <<<"$last"; then
        _guest_err "guest_files: no V2R-FILES line for $2 in the last boot of $1 (no ext4 on it?)"
        return 1
    fi
    # "V2R-FILE vda SHA PATH..." -> "SHA  PATH..." (the path may hold spaces)
    awk -v d="$2" '$1 == "V2R-FILE" && $2 == d { p = $0; sub(/^V2R-FILE [^ ]+ [^ ]+ /, "", p); print $3 "  " p }' \
        <<<"$last"
}

guest_manifest() {
    local v
    v=$(guest_last_boot "$1" | awk -v d="$2" '$1 == "V2R-MANIFEST" && $2 == d { $1 = ""; $2 = ""; sub(/^ +/, ""); print }' | tail -n 1)
    [ -n "$v" ] || { _guest_err "guest_manifest: no V2R-MANIFEST line for $2 in the last boot of $1"; return 1; }
    echo "$v"
}

guest_acks() {
    guest_last_boot "$1" | awk '$1 == "V2R-ACK" { print $2 }'
}

guest_hb_stats() {
    local log=$1 lines seed
    if [ $# -ge 2 ]; then
        lines=$(_guest_lines "$log" "$2" "${3:-}") || return 1
        # the last heartbeat before the range: the gap that ends in the range counts
        seed=$(_guest_lines "$log" 0 "$2" | grep '^V2R-HB' | tail -n 1 || true)
        [ -z "$seed" ] || lines="SEED $seed"$'\n'"$lines"
    else
        lines=$(guest_last_boot "$log") || return 1
    fi
    awk '
        /^V2R-GUEST BOOT/ { prev = "" }
        $1 == "SEED" && $3 ~ /^[0-9]+$/ { prev = $3 }
        $1 == "V2R-HB" && $2 ~ /^[0-9]+$/ {
            if (prev != "") { g[n++] = $2 - prev; if ($2 - prev > max) { max = $2 - prev; at = $2 } }
            prev = $2; beats++
        }
        END {
            if (n == 0) { print "guest-lib: guest_hb_stats: fewer than 2 heartbeats" > "/dev/stderr"; exit 1 }
            # median: sort the gaps (insertion sort is fine for a few thousand)
            for (i = 1; i < n; i++) { v = g[i]; for (j = i - 1; j >= 0 && g[j] > v; j--) g[j + 1] = g[j]; g[j + 1] = v }
            med = (n % 2) ? g[(n - 1) / 2] : (g[n / 2 - 1] + g[n / 2]) / 2
            printf "beats=%d median_ms=%d max_ms=%d max_at_ms=%.0f\n", beats, med, max, at
        }' <<<"$lines"
}

guest_watch_start() {
    local log=$1 out=$2
    [ -f "$log" ] || { _guest_err "guest_watch_start: no log file $log"; return 1; }
    local off i me=$BASHPID
    off=$(stat -c %s "$log") || return 1
    rm -f "$out" || return 1
    "$_GPY" -u - "$log" "$out" "$me" "$off" <<'PY' &
import os, sys, time
log, out = sys.argv[1], sys.argv[2]
parent = int(sys.argv[3])  # exit with the shell that started it, even without guest_watch_stop
f = open(log, "rb")
f.seek(int(sys.argv[4]))
o = open(out, "a", buffering=1)  # its existence tells guest_watch_start we are running
buf = b""
while True:
    data = f.read()
    if data:
        now = int(time.time() * 1000)
        buf += data
        *lines, buf = buf.split(b"\n")
        for l in lines:
            l = l.replace(b"\r", b"").decode("utf-8", "replace")
            i = l.find("V2R-")
            if i >= 0:
                o.write("%d %s\n" % (now, l[i:]))
    else:
        if os.getppid() != parent:
            break
        time.sleep(0.005)
PY
    GUEST_WATCH_PID=$!
    # python may take a second to start on a busy machine: wait, so that stamps are not late
    for ((i = 0; i < 300; i++)); do
        [ -e "$out" ] && return 0
        kill -0 "$GUEST_WATCH_PID" 2>/dev/null || break
        sleep 0.05
    done
    _guest_err "guest_watch_start: the watcher did not start"
    guest_watch_stop
    return 1
}

guest_watch_stop() {
    if [ -n "${GUEST_WATCH_PID:-}" ]; then
        kill "$GUEST_WATCH_PID" 2>/dev/null || true
        wait "$GUEST_WATCH_PID" 2>/dev/null || true
        GUEST_WATCH_PID=
    fi
}

guest_watch_hb_stats() {
    local out=$1 from=${2:-0} to=${3:-99999999999999}
    [ -f "$out" ] || { _guest_err "guest_watch_hb_stats: no file $out"; return 1; }
    awk -v from="$from" -v to="$to" '
        $2 == "V2R-GUEST" { prev = "" }
        $2 == "V2R-HB" && $1 <= to {
            # a gap counts when it ends within FROM..TO
            if ($1 >= from) {
                if (prev != "") { g[n++] = $1 - prev; if ($1 - prev > max) { max = $1 - prev; at = $1 } }
                beats++
            }
            prev = $1
        }
        END {
            if (n == 0) { print "guest-lib: guest_watch_hb_stats: fewer than 2 heartbeats" > "/dev/stderr"; exit 1 }
            for (i = 1; i < n; i++) { v = g[i]; for (j = i - 1; j >= 0 && g[j] > v; j--) g[j + 1] = g[j]; g[j + 1] = v }
            med = (n % 2) ? g[(n - 1) / 2] : (g[n / 2 - 1] + g[n / 2]) / 2
            printf "beats=%d median_ms=%d max_ms=%d max_at_ms=%.0f\n", beats, med, max, at
        }' "$out"
}

guest_verify_records() {
    local image=$1 log=$2 acks
    [ -r "$image" ] || { _guest_err "guest_verify_records: cannot read $image"; return 1; }
    acks=$(guest_acks "$log") || return 1
    "$_GPY" - "$image" <<PY
import hashlib, sys

acked = [int(x) for x in """$acks""".split()]
BS = 4096

def expected(n):
    body = b"".join(b"v2r record %012d line %02d%s\n" % (n, l, b" " * 96) for l in range(31))
    head = (b"V2RREC %d %s" % (n, hashlib.sha256(body).hexdigest().encode())).ljust(127) + b"\n"
    return head + body

bad = []
with open(sys.argv[1], "rb", buffering=0) as f:
    def block(n):
        f.seek(n * BS)
        return f.read(BS)
    for n in acked:
        b = block(n)
        want = expected(n)
        if b != want:
            head = b[:127].rstrip(b" \0").decode("ascii", "replace")
            if len(b) < BS:
                why = "beyond the end of the image"
            elif not head:
                why = "zeros (never written)"
            elif b[:128] != want[:128]:
                why = "wrong header %r" % head
            else:
                why = "header intact, %d body bytes differ" % sum(x != y for x, y in zip(b[128:], want[128:]))
            bad.append("record %d: %s" % (n, why))
    extra = 0
    n = (max(acked) + 1) if acked else 0
    while block(n) == expected(n):
        extra += 1
        n += 1
if not acked:
    print("guest-lib: guest_verify_records: no V2R-ACK in the last boot of the log", file=sys.stderr)
    sys.exit(1)
if sorted(set(acked)) != list(range(min(acked), max(acked) + 1)):
    bad.append("acks are not a contiguous range")
for m in bad[:20]:
    print("guest-lib: guest_verify_records: " + m, file=sys.stderr)
print("acked=%d verified=%d first=%d last=%d extra=%d"
      % (len(acked), len(acked) - len(bad), min(acked), max(acked), extra))
sys.exit(1 if bad else 0)
PY
}

# The MANIFEST.sha256 of a tree: "sha256  path" for each regular file, paths relative and
# sorted bytewise, MANIFEST.sha256 itself left out.
_fs_manifest() {
    (
        cd "$1" || exit 1
        find . -type f ! -path ./MANIFEST.sha256 -print0 | sed -z 's,^\./,,' | LC_ALL=C sort -z |
            xargs -0 -r sha256sum --
    )
}

fs_expected_files() {
    local src=$1 man
    [ -d "$src" ] || { _guest_err "fs_expected_files: no directory $src"; return 1; }
    man=$(_fs_manifest "$src") || return 1
    {
        [ -z "$man" ] || echo "$man"
        echo "$(printf '%s\n' "$man" | sed '/^$/d' | sha256sum | cut -d' ' -f1)  MANIFEST.sha256"
    } | LC_ALL=C sort -k2
}

make_fs_image() {
    local file=$1 size=$2 src=$3 stage out
    [ -d "$src" ] || { _guest_err "make_fs_image: no directory $src"; return 1; }
    [[ $size =~ ^[0-9]+$ ]] || { _guest_err "make_fs_image: size '$size' is not a number of MiB"; return 2; }
    command -v mkfs.ext4 >/dev/null || { _guest_err "make_fs_image: mkfs.ext4 missing (apt-get install e2fsprogs)"; return 1; }
    stage=$(mktemp -d "${TMPDIR:-/tmp}/v2r-fs.XXXXXX") || return 1
    if ! cp -a "$src/." "$stage/"; then
        rm -rf "$stage"; _guest_err "make_fs_image: cannot copy $src"; return 1
    fi
    # (computed into a variable first: a file being written inside the tree would be listed)
    local man
    if ! man=$(_fs_manifest "$stage") || ! { [ -z "$man" ] || printf '%s\n' "$man"; } >"$stage/MANIFEST.sha256"; then
        rm -rf "$stage"; _guest_err "make_fs_image: cannot write the manifest"; return 1
    fi
    rm -f "$file"
    truncate -s "${size}M" "$file" || { rm -rf "$stage"; _guest_err "make_fs_image: cannot create $file"; return 1; }
    if ! out=$(mkfs.ext4 -q -F -L v2r-test -d "$stage" "$file" 2>&1); then
        rm -rf "$stage"
        _guest_err "make_fs_image: mkfs.ext4 -d $src $file failed: $out"
        return 1
    fi
    rm -rf "$stage"
    chmod 0644 "$file"
}
