#!/usr/bin/env bash
# scripts/hosts, the simulated hypervisors of the fleet tests: two hosts, each reached over its
# own sshd with the hosts' key only (a foreign key is refused, BatchMode never asks), each with
# its own address, hostname and libvirtd (a domain defined on one is on neither the other nor the
# machine's libvirtd), each reaching the bridge address the lab binds to; a cut host is
# unreachable and heals; `down` leaves no namespace, link, process or directory behind.
# shellcheck disable=SC1091
source "$(dirname "$0")/e2e-lib.sh"
TEST_NAME=t_hosts
hosts=${V2R_SRC:?}/scripts/hosts
H=$T/hosts
dom=${U}-hostdom

# Keeps the exit status for _e2e_cleanup (it reports PASS or FAIL from it).
_hosts_cleanup() {
    local rc=$?
    [ -d "$H" ] && "$hosts" down "$H" >/dev/null 2>&1
    return $rc
}
trap '_hosts_cleanup; _e2e_cleanup' EXIT

note "two hosts"
"$hosts" up "$H" --count 2 --prefix "h${U: -6}" >"$T/up.out" 2>&1 || { cat "$T/up.out"; fail "hosts up failed"; }
mapfile -t lines < <("$hosts" list "$H")
[ "${#lines[@]}" -eq 2 ] || fail "list shows ${#lines[@]} hosts, want 2: ${lines[*]}"
read -r n1 a1 _ u1 <<<"${lines[0]}"
read -r n2 a2 _ u2 <<<"${lines[1]}"
bridge=$(cat "$H/bridge")
[ "$a1" != "$a2" ] || fail "both hosts have address $a1"

note "ssh with the hosts' key: each host has its own address and hostname"
for i in 1 2; do
    n=n$i a=a$i
    out=$("$H/ssh" "root@${!a}" 'hostname; ip -4 -o addr show dev eth0') || fail "ssh to ${!n} failed"
    grep -qx "${!n}" <<<"$out" || fail "${!n}: hostname is not its name: $out"
    grep -qF "inet ${!a}/24" <<<"$out" || fail "${!n}: eth0 does not hold ${!a}: $out"
done

note "a foreign key is refused, without a prompt"
ssh-keygen -q -t ed25519 -N '' -f "$T/other_key"
if timeout 20 ssh -F none -i "$T/other_key" -o IdentitiesOnly=yes -o UserKnownHostsFile="$H/known_hosts" \
    -o BatchMode=yes -o StrictHostKeyChecking=yes "root@$a1" true </dev/null 2>"$T/foreign.err"; then
    fail "ssh with a key that is not the hosts' got in"
fi
grep -q "Permission denied" "$T/foreign.err" || fail "foreign key: not 'Permission denied': $(cat "$T/foreign.err")"

note "each host has its own libvirtd"
cat >"$T/dom.xml" <<EOF
<domain type='qemu'><name>$dom</name><memory unit='MiB'>64</memory><os><type arch='x86_64'>hvm</type></os></domain>
EOF
virsh -c "$u1" define "$T/dom.xml" >/dev/null || fail "define on $n1 failed"
# Each listing captured whole (grep -q on a pipe may end virsh with SIGPIPE, which pipefail counts).
on1=$(virsh -c "$u1" list --all --name) || fail "virsh list on $n1 failed"
on2=$(virsh -c "$u2" list --all --name) || fail "virsh list on $n2 failed"
here=$(virsh list --all --name) || fail "virsh list on the machine's libvirtd failed"
grep -qx "$dom" <<<"$on1" || fail "$dom not listed on $n1 (it lists: $on1)"
if grep -qx "$dom" <<<"$on2"; then fail "$dom (defined on $n1) is visible on $n2"; fi
if grep -qx "$dom" <<<"$here"; then fail "$dom (defined on $n1) is visible on the machine's libvirtd"; fi

note "the hosts reach the bridge address ($bridge) the lab binds to"
python3 - "$bridge" "$T/port" <<'EOF' &
import socket, sys
s = socket.socket(); s.bind((sys.argv[1], 0)); s.listen(4)
open(sys.argv[2], "w").write(str(s.getsockname()[1]))
for _ in range(2):
    c, _ = s.accept(); c.sendall(b"lab-here\n"); c.close()
EOF
listener=$!
for _ in $(seq 50); do [ -s "$T/port" ] && break; sleep 0.1; done
port=$(cat "$T/port")
for a in "$a1" "$a2"; do
    got=$("$H/ssh" "root@$a" "nc -w 5 $bridge $port </dev/null") || fail "host $a cannot reach $bridge:$port"
    [ "$got" = lab-here ] || fail "host $a read '$got' from $bridge:$port"
done
wait "$listener"

note "a cut host is unreachable; healed, it answers again"
"$hosts" cut "$H" "$n2"
if "$H/ssh" -o ConnectTimeout=3 "root@$a2" true 2>/dev/null; then fail "$n2 answers while cut"; fi
"$H/ssh" "root@$a1" true || fail "$n1 does not answer while $n2 is cut"
"$hosts" heal "$H" "$n2"
ok=0
for _ in $(seq 20); do "$H/ssh" -o ConnectTimeout=3 "root@$a2" true 2>/dev/null && { ok=1; break; }; sleep 0.5; done
[ $ok = 1 ] || fail "$n2 does not answer after heal"

note "down leaves nothing behind"
holders=$(awk '{print $3}' "$H/hosts")
prefix=$(cat "$H/prefix")
sshd_pids=$(cat "$H"/*/sshd.pid)
virsh -c "$u1" undefine "$dom" >/dev/null
"$hosts" down "$H"
[ ! -e "$H" ] || fail "$H still exists after down"
for p in $holders $sshd_pids; do
    if kill -0 "$p" 2>/dev/null; then fail "process $p still runs after down"; fi
done
netns=$(ip netns list)
links=$(ip -o link show)
if grep -q "^$prefix" <<<"$netns"; then fail "namespaces left: $(grep "^$prefix" <<<"$netns")"; fi
if grep -q " $prefix" <<<"$links"; then fail "links left: $(grep " $prefix" <<<"$links")"; fi
