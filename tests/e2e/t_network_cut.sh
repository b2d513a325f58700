# Network cut between virt2rbd and the cluster (issue 4): the link goes down
# for 30 s in the middle of a copy; virt2rbd warns of the stall and completes,
# verified, once the link is back.
#
# Setup, all of it made by this test and removed at exit: a veth pair, one end
# in a network namespace of its own; a private lab (1 mon, mgr, 2 OSDs,
# without libvirtd) whose daemons bind to the address of the root-side end
# (scripts/lab up --addr); virt2rbd runs inside the namespace, so its only way
# to the cluster is the veth. The cut is `ip link set DEV down` on the
# namespace side: the namespace loses its route, while the lab's address stays
# up (its end is only without carrier) and its daemons keep talking to each
# other. The shared lab of the test run is not used for Ceph; the domain and
# the libvirt secret live in the host's libvirtd (its socket is a file, which
# the namespace reaches).
#
# Asserts: exit 0; the copy was under way when the link went down (some but not
# all of the disk done) and ended after the link came back; a stall warning on
# stderr while the link was down; no progress during the cut; the OSDs stayed
# up during the cut (only the tool's path was cut); the image holds exactly the
# source's bytes.
source "$(dirname "$0")/e2e-lib.sh"
note() { echo "--- [${SECONDS}s] $*"; }
# nap S: sleep, but let a TERM or INT end the test (and run its cleanup) at once.
nap() { sleep "$1" & wait $!; }

SRC=${V2R_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
[ "$(id -u)" = 0 ] || fail "needs root (network namespaces)"
command -v ip >/dev/null || fail "ip (iproute2) not found"

CUT_S=30          # how long the link stays down
BW=8              # MiB/s: the copy takes SIZE_MIB/BW s without the cut
SIZE_MIB=160
STALL_WARN=5
STALL_TIMEOUT=120 # well above the cut: the tool must wait, not give up

ns=v2r-$U                 # the namespace of virt2rbd
veth_root=v2c$$r          # interface names: at most 15 characters
veth_ns=v2c$$n
lab=$T/lab
dom=${U}-nc
user=${U}u
own_domain "$dom"
own_user "$user"

tool_pid=
stamp_pid=
net_made=0
_nc_cleanup() {
    local rc=$?
    set +e
    if [ -n "$tool_pid" ] && kill -0 "$tool_pid" 2>/dev/null; then
        kill -KILL "$tool_pid" 2>/dev/null
        wait "$tool_pid" 2>/dev/null
    fi
    if [ -n "$stamp_pid" ] && kill -0 "$stamp_pid" 2>/dev/null; then
        kill "$stamp_pid" 2>/dev/null
        wait "$stamp_pid" 2>/dev/null
    fi
    if [ $rc -ne 0 ] && [ -f "$T/err" ]; then
        echo "stderr of virt2rbd (milliseconds since its start):" >&2
        tail -n 40 "$T/err" >&2
    fi
    [ -d "$lab" ] && "$SRC/scripts/lab" down "$lab" >/dev/null
    if [ $net_made = 1 ]; then
        ip netns del "$ns" 2>/dev/null          # takes the namespace's end of the veth with it
        ip link del "$veth_root" 2>/dev/null    # gone already with its peer, unless the move failed
    fi
    (exit $rc)
    _e2e_cleanup
}
trap _nc_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the network: a free 10.A.B.C/30, a veth pair, a namespace ----------------
# Chosen and configured under a lock so that two runs cannot pick the same one.
lock=/run/lock/v2r-netcut.lock
[ -d /run/lock ] || lock=/tmp/v2r-netcut.lock
exec 7>"$lock"
flock -w 60 7 || fail "timed out waiting for $lock"
# Free: no address in it, and no route of any table covers it or lies inside it (the
# default route aside).
net=
for _ in $(seq 1 100); do
    cand=10.$((200 + RANDOM % 50)).$((RANDOM % 256)).$((4 * (RANDOM % 64)))
    if [ -z "$( { ip -4 route show table all match "$cand/30"; ip -4 route show table all root "$cand/30"; } |
                grep -vE '^(unreachable |blackhole |prohibit )?default ' )" ] &&
       ! ip -4 -o addr show | grep -qF " ${cand%.*}."; then
        net=$cand
        break
    fi
done
[ -n "$net" ] || fail "no free 10.x address range found"
base=${net##*.}
addr_root=${net%.*}.$((base + 1))
addr_ns=${net%.*}.$((base + 2))
net_made=1
ip netns add "$ns"
ip link add "$veth_root" type veth peer name "$veth_ns"
ip link set "$veth_ns" netns "$ns"
ip addr add "$addr_root/30" dev "$veth_root"
ip link set "$veth_root" up
ip -n "$ns" addr add "$addr_ns/30" dev "$veth_ns"
ip -n "$ns" link set lo up
ip -n "$ns" link set "$veth_ns" up
exec 7>&-
note "namespace $ns: $veth_ns $addr_ns <-> $veth_root $addr_root"

# --- a private lab on the root-side address -----------------------------------
"$SRC/scripts/lab" up "$lab" --addr "$addr_root" --no-libvirt --mons 1 --osds 2 --osd-size 2048 \
    >"$T/lab-up.out" 2>&1 || { cat "$T/lab-up.out" >&2; fail "scripts/lab up --addr $addr_root failed"; }
note "$(head -n 1 "$T/lab-up.out")"
labceph() { timeout -k 5 20 ceph --conf "$lab/ceph.conf" --keyring "$lab/ceph.client.admin.keyring" "$@"; }
labrbd() { timeout -k 5 120 rbd --conf "$lab/ceph.conf" --keyring "$lab/ceph.client.admin.keyring" "$@"; }
grep -q "mon host = \[v2:$addr_root:" "$lab/ceph.conf" || fail "the lab's mons are not on $addr_root"

# --- the VM: one dense raw disk (every byte is data, nothing is skipped) ------
head -c $((SIZE_MIB * 1048576)) /dev/urandom >"$T/vda.raw"
sha=$(file_sha256 "$T/vda.raw")
guest_define "$dom" "$T" "file:$T/vda.raw:vda" >/dev/null

# --- migrate from the namespace, cut the link mid-copy ------------------------
# stderr goes through a FIFO to a reader that prefixes each line with the
# milliseconds since the start, so the warning can be placed in time.
mkfifo "$T/err.fifo"
t0_us=${EPOCHREALTIME/./}
ms() { echo $(( (${EPOCHREALTIME/./} - t0_us) / 1000 )); }
(
    while IFS= read -r line; do
        printf '%s %s\n' "$(( (${EPOCHREALTIME/./} - t0_us) / 1000 ))" "$line"
    done <"$T/err.fifo" >"$T/err"
) &
stamp_pid=$!
ip netns exec "$ns" "$V2R_BIN" migrate "$dom" --pool libvirt --client-user "$user" --no-start \
    --conf "$lab/ceph.conf" --keyring "$lab/ceph.client.admin.keyring" --state-dir "$STATE" \
    --bandwidth "$BW" --stall-warn "$STALL_WARN" --stall-timeout "$STALL_TIMEOUT" --progress-interval 1 \
    >"$T/out" 2>"$T/err.fifo" &
tool_pid=$!

# pct_done: the last percentage of the copy that virt2rbd reported.
pct_done() { { grep -oE '[0-9]+%' "$T/err" 2>/dev/null || true; } | tail -n 1 | tr -d '%'; }
while :; do
    kill -0 "$tool_pid" 2>/dev/null || fail "virt2rbd ended before the cut"
    p=$(pct_done)
    [ -n "$p" ] && [ "$p" -ge 20 ] && break
    [ "$(ms)" -lt 90000 ] || fail "the copy did not reach 20% within 90 s"
    sleep 0.2
done
pct_cut=$(pct_done)
ip -n "$ns" link set "$veth_ns" down
t_cut=$(ms)
note "link down at $((t_cut / 1000)) s, copy at $pct_cut%"
nap 3
# Only the tool's path is cut: the lab itself is fine.
up_osds=$(labceph osd stat -f json | python3 -c 'import json,sys; print(json.load(sys.stdin)["num_up_osds"])')
[ "$up_osds" = 2 ] || fail "the lab lost OSDs during the cut: $up_osds of 2 up"
left=$(( CUT_S * 1000 - ($(ms) - t_cut) ))
[ "$left" -le 0 ] || nap "$((left / 1000)).$(printf '%03d' $((left % 1000)))"
pct_before_up=$(pct_done)
ip -n "$ns" link set "$veth_ns" up
t_up=$(ms)
note "link up at $((t_up / 1000)) s after $(( (t_up - t_cut) / 1000 )) s, copy at $pct_before_up%"

while kill -0 "$tool_pid" 2>/dev/null; do
    [ "$(ms)" -lt $(( t_up + STALL_TIMEOUT * 1000 )) ] || fail "virt2rbd did not finish within $STALL_TIMEOUT s after the link came back"
    sleep 0.2
done
set +e
wait "$tool_pid"
RC=$?
set -e
tool_pid=
t_end=$(ms)
wait "$stamp_pid" || true
stamp_pid=
note "virt2rbd exited $RC at $((t_end / 1000)) s ($(( (t_end - t_up) / 1000 )) s after the link came back)"

if [ "$RC" != 0 ]; then
    cat "$T/out" >&2
    fail "expected exit 0, got $RC"
fi
# The cut happened mid-copy: some, not all, done at the cut; the end after the link returned.
[ "$pct_cut" -ge 1 ] && [ "$pct_cut" -lt 100 ] || fail "the copy was at $pct_cut% at the cut, not mid-copy"
[ "$pct_before_up" -lt 100 ] || fail "the copy finished while the link was down"
[ "$t_end" -gt "$t_up" ] && [ "$t_end" -gt $((CUT_S * 1000)) ] || fail "virt2rbd ended before the link came back"
# A stall warning while the link was down.
warn=$(grep -E 'warning.*no write completed for' "$T/err" | head -n 1 || true)
[ -n "$warn" ] || fail "no stall warning on stderr"
t_warn=${warn%% *}
[ "$t_warn" -ge "$t_cut" ] && [ "$t_warn" -le "$t_up" ] ||
    fail "the stall warning came at $t_warn ms, not during the cut ($t_cut..$t_up ms): $warn"
note "stall warning at $((t_warn / 1000)) s, $(( (t_warn - t_cut) / 1000 )) s into the cut: ${warn#* }"
# No progress while the link was down: librbd's writeback cache (24 MiB dirty at most) takes
# writes for about 3 s at this rate after the link went down, then nothing until it is back.
# pcts: "MS PERCENT" of each progress line of the copy.
pcts() { awk '$2 == "copy:" { for (i = 3; i <= NF; i++) if ($i ~ /^[0-9]+%$/) { print $1, $i; break } }' "$T/err"; }
p_late=$(pcts | awk -v a=$((t_cut + 10000)) -v b="$t_up" '$1 >= a && $1 <= b {print $2}' | sort -u | tr '\n' ' ')
[ "$(wc -w <<<"$p_late")" = 1 ] || fail "the copy progressed while the link was down (or reported nothing): $p_late"
# When the writes stopped completing: the first report of the percentage it stalled at.
t_stuck=$(pcts | awk -v p="${p_late% }" '$2 == p {print $1; exit}')
grep -q 'verified' "$T/out" || { cat "$T/out" >&2; fail "the summary does not say verified"; }
# The image holds the source's bytes (read from the root namespace).
got=$(labrbd export --no-progress "libvirt/$dom-vda" - | sha256sum | cut -d' ' -f1)
[ "$got" = "$sha" ] || fail "image libvirt/$dom-vda differs from the source ($got, want $sha)"
echo "cut $(( (t_up - t_cut) / 1000 )) s at ${pct_cut}% of ${SIZE_MIB} MiB at ${BW} MiB/s; writes stopped" \
    "$(( (t_stuck - t_cut) / 1000 )) s into it (at ${p_late% }), warned after $(( (t_warn - t_cut) / 1000 )) s;" \
    "done $(( (t_end - t_up) / 1000 )) s after the link returned; total $((t_end / 1000)) s"
