#!/usr/bin/env bash
# virt2rbd fleet run / status / cancel (issue 14) on three simulated hypervisors (scripts/hosts:
# own netns, sshd and libvirtd each) and a Ceph lab of this test's own on their bridge.
#  1. --max-failures 1 with one slot: the first VM fails (an injected fault, scoped to it on its
#     host): undone there, and nothing else starts; exit 4.
#  2. the rerun (no fault): the coordinator is SIGKILLed while a slow VM copies; that migration
#     goes on on its host; the next rerun re-attaches to it and completes everything else, each
#     VM once; the failed VM is kept as it is.
#  3. --only retries the failed VM.
#  4. fleet cancel beside a running coordinator: the VM is stopped and rolled back on its host.
#  5. fleet cancel alone: a migrated VM is rolled back.
# Throughout: each migrated VM's image equals its source; the key is in no process's argv or
# environment (it reaches the hosts on stdin only) and in no output or file of the coordinator.
# shellcheck disable=SC1091
source "$(dirname "$0")/e2e-lib.sh"
TEST_NAME=t_fleet_run
hosts=${V2R_SRC:?}/scripts/hosts
H=$T/hosts
L=$T/lab
CS=$T/coord/state

_fleet_cleanup() {
    local rc=$?
    set +e
    [ -n "${scanner:-}" ] && kill "$scanner" 2>/dev/null
    [ -n "${coord:-}" ] && kill "$coord" 2>/dev/null
    # ssh control masters a SIGKILLed coordinator left (their sockets under this test's TMPDIR).
    pkill -f "ControlPath=$T/tmp/"
    [ -d "$H" ] && "$hosts" down "$H" >/dev/null 2>&1
    [ -d "$L" ] && "$V2R_SRC/scripts/lab" down "$L" >/dev/null 2>&1
    return $rc
}
trap '_fleet_cleanup; _e2e_cleanup' EXIT

note "three hosts, and a lab on their bridge"
"$hosts" up "$H" --count 3 --prefix "r${U: -6}" >"$T/hosts.out" 2>&1 || { cat "$T/hosts.out"; fail "hosts up failed"; }
"$V2R_SRC/scripts/lab" up "$L" --addr "$(cat "$H/bridge")" --osd-size 1024 --no-libvirt >"$T/lab.out" 2>&1 ||
    { tail -20 "$T/lab.out"; fail "lab up failed"; }
# The coordinator's ssh control sockets go under TMPDIR: here, so that none is left behind.
mkdir -p "$T/tmp"
export TMPDIR=$T/tmp
declare -A addr uri
while read -r n a _ u; do addr[$n]=$a; uri[$n]=$u; done < <("$hosts" list "$H")
mapfile -t names < <("$hosts" list "$H" | awk '{print $1}')
lceph() { ceph --conf "$L/ceph.conf" --keyring "$L/ceph.client.admin.keyring" "$@"; }
lrbd() { rbd --conf "$L/ceph.conf" --keyring "$L/ceph.client.admin.keyring" "$@"; }

# The hosts' conf names no keyring: the coordinator's keyring is the only copy of the key.
mkdir -m 0700 "$T/coord"
cp "$L/ceph.client.admin.keyring" "$T/coord/admin.keyring"
chmod 0600 "$T/coord/admin.keyring"
awk '/^\[client\]/{skip=1} /^\[/{if ($0 != "[client]") skip=0} !skip' "$L/ceph.conf" >"$T/cluster.conf"
lceph auth print-key client.admin >"$T/coord/key"
# The coordinator's ssh: the hosts' wrapper, passing the fault injection of a phase on.
cat >"$T/ssh" <<EOF
#!/bin/sh
exec "$H/ssh" -o SendEnv=V2R_FAULT -o SendEnv=V2R_FAULT_DOMAIN "\$@"
EOF
chmod +x "$T/ssh"

note "VMs: three on each host, shut off, raw file disks of random data"
mkdir -p "$T/disks"
chmod 0755 "$T" "$T/disks"
define_vm() {  # HOST NAME MIB
    local h=$1 name=$2 mib=$3
    head -c $((mib << 20)) /dev/urandom >"$T/disks/$name.raw"
    cat >"$T/$name.xml" <<EOF
<domain type='qemu'><name>$name</name><memory unit='MiB'>64</memory>
<os><type arch='x86_64'>hvm</type></os>
<devices><disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='$T/disks/$name.raw'/>
<target dev='vda' bus='virtio'/></disk></devices></domain>
EOF
    virsh -c "${uri[$h]}" define "$T/$name.xml" >/dev/null || fail "define $name failed"
}
h1=${names[0]} h2=${names[1]} h3=${names[2]}
declare -A host_of
for spec in "$h1 a1 8" "$h1 a2 16" "$h1 a3 8" "$h2 b1 8" "$h2 b2 8" "$h2 bad 8" "$h3 c1 8" "$h3 c2 24" "$h3 c3 8"; do
    read -r h n m <<<"$spec"
    define_vm "$h" "${U}-$n" "$m"
    host_of[${U}-$n]=$h
done

write_plan() {  # SLOTS
    {
        cat <<EOF
version: 1
cluster:
  conf: $T/cluster.conf
  keyring: $T/coord/admin.keyring
  pool: libvirt
  client_user: ${U}vm
transport:
  ssh_command: $T/ssh
  connect_timeout: 5
  keepalive: 1
limits:
  slots: $1
  host_slots: 2
hosts:
EOF
        local i=0 h
        for h in "$h1" "$h2" "$h3"; do
            i=$((i + 1))
            cat <<EOF
  - name: $h
    ssh: root@${addr[$h]}
    virt2rbd: $V2R_BIN
    state_dir: $T/state$i
    vms:
EOF
            [ "$h" = "$h2" ] && printf '      - name: %s\n        priority: 10\n' "${U}-bad"
            [ "$h" = "$h3" ] && printf '      - name: %s\n        mode: live\n' "${U}-lv"
            [ "$h" = "$h1" ] && [ -n "${WINDOW:-}" ] && printf '      - name: %s\n        window: "%s"\n' "${U}-g1" "$WINDOW"
            printf '      - match: "%s-*"\n' "$U"
        done
    } >"$T/fleet.yaml"
}
# Scans every process's argv and environment for the key while fleet commands run.
start_scanner() {
    python3 - "$T/coord/key" "$T/scan.hits" <<'EOF' &
import os, sys, time
key = open(sys.argv[1], "rb").read().strip()
hits = set()
end = time.time() + 600
while time.time() < end and not os.path.exists(sys.argv[2] + ".stop"):
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        for what in ("cmdline", "environ"):
            try:
                if key in open(f"/proc/{pid}/{what}", "rb").read():
                    hits.add(f"{pid} {what}")
            except OSError:
                pass
open(sys.argv[2], "w").write("\n".join(sorted(hits)))
EOF
    scanner=$!
}
stop_scanner() { touch "$T/scan.hits.stop"; wait "$scanner"; scanner=; rm -f "$T/scan.hits.stop"; }

fleet() { "$V2R_BIN" fleet "$@" --state-dir "$CS"; }
# migrated NAME: the domain is on RBD and the image holds the source's bytes.
migrated() {
    local name=$1 h=${host_of[$1]} xml
    xml=$(virsh -c "${uri[$h]}" dumpxml --inactive "$name")  # whole: grep -q on a pipe can SIGPIPE virsh
    grep -q "protocol='rbd' name='libvirt/$name-vda'" <<<"$xml" || fail "$name is not on RBD: $(grep -A2 '<disk' <<<"$xml")"
    lrbd export --no-progress "libvirt/$name-vda" "$T/export.raw" >/dev/null 2>&1 || fail "export of $name failed"
    cmp -s "$T/export.raw" "$T/disks/$name.raw" || fail "the image of $name differs from its source"
    rm -f "$T/export.raw"
}
on_source() {
    local name=$1 h=${host_of[$1]} xml
    xml=$(virsh -c "${uri[$h]}" dumpxml --inactive "$name")
    grep -q "<source file='$T/disks/$name.raw'/>" <<<"$xml" || fail "$name is not on its file disk"
}
report_field() {  # FILE PYTHON-EXPR over d (the last line: the report)
    python3 -c "import json,sys; d=json.loads(open(sys.argv[1]).read().strip().split('\n')[-1]); print($2)" "$1"
}

note "a running guest on host three, to move live"
guest_build >/dev/null
truncate -s 16M "$T/disks/${U}-lv.raw"
dd if=/dev/urandom of="$T/disks/${U}-lv.raw" bs=1M count=4 conv=notrunc status=none
LIBVIRT_DEFAULT_URI=${uri[$h3]} guest_define --append "v2r.sha=none" "${U}-lv" "$T" "file:$T/disks/${U}-lv.raw:vda"
LIBVIRT_DEFAULT_URI=${uri[$h3]} guest_start "${U}-lv"
guest_wait_ready "$(guest_log "${U}-lv" "$T")" 180
host_of[${U}-lv]=$h3

start_scanner
note "1. --max-failures 1, one slot: the first VM fails on its host and nothing else starts"
write_plan 1
set +e
V2R_FAULT=before-switch=fail V2R_FAULT_DOMAIN=${U}-bad fleet run "$T/fleet.yaml" --max-failures 1 --format json \
    >"$T/run1.out" 2>"$T/run1.err"
RC=$?
set -e
[ "$RC" = 4 ] || { cat "$T/run1.err"; fail "run 1: expected exit 4, got $RC"; }
[ "$(report_field "$T/run1.out" 'd["type"], d["failed"], d["done"], d["left"]')" = "report 1 0 9" ] ||
    fail "run 1 report: $(tail -1 "$T/run1.out")"
report_field "$T/run1.out" '[v["error"] for v in d["vms"] if v["result"] == "failed"][0]' |
    grep -q "injected failure at before-switch" || fail "run 1: the failure is not reported: $(tail -1 "$T/run1.out")"
grep -q "max failures reached" "$T/run1.err" || fail "run 1: no 'max failures reached': $(tail -3 "$T/run1.err")"
on_source "${U}-bad"
[ -z "$(lrbd ls libvirt | grep "^$U" || true)" ] || fail "run 1 left images: $(lrbd ls libvirt)"
python3 - "$T/run1.out" <<'EOF' || fail "run 1: the events are not one JSON object per line"
import json, sys
lines = open(sys.argv[1]).read().strip().split("\n")
types = [json.loads(l)["type"] for l in lines]
assert "vm" in types and "fleet" in types and types[-1] == "report", types
EOF

note "2. the rerun; the coordinator SIGKILLed while a slow VM copies; the next rerun re-attaches"
write_plan 4
V2R_FAULT=after-copy=sleep:12 V2R_FAULT_DOMAIN=${U}-c2 "$V2R_BIN" fleet run "$T/fleet.yaml" --state-dir "$CS" \
    >"$T/run2.out" 2>"$T/run2.err" &
coord=$!
fdir=$(ls -d "$CS"/fleet/fleet-*)
for _ in $(seq 1 120); do
    grep -q "\"vm-remote\".*${U}-c2\|${U}-c2.*\"vm-remote\"" "$fdir/journal" 2>/dev/null && break
    sleep 0.5
done
grep -q "${U}-c2.*vm-remote\|vm-remote.*${U}-c2" "$fdir/journal" || { cat "$T/run2.err"; fail "c2 never started"; }
sleep 2
kill -9 "$coord"
wait "$coord" 2>/dev/null || true
coord=
pgrep -f "fleet run $T/fleet.yaml" >/dev/null && fail "the coordinator still runs"
pgrep -f "migrate ${U}-c2 " >/dev/null || fail "c2's migration did not survive the coordinator"
fleet status "$T/fleet.yaml" >"$T/status.out" 2>&1 || { cat "$T/status.out"; fail "fleet status failed"; }
grep -q "no coordinator runs it" "$T/status.out" || fail "status: $(cat "$T/status.out")"
grep -q "${U}-c2 *interrupted" "$T/status.out" || fail "status does not show c2 interrupted: $(cat "$T/status.out")"
set +e
fleet run "$T/fleet.yaml" --format json >"$T/run3.out" 2>"$T/run3.err"
RC=$?
set -e
[ "$RC" = 0 ] || { cat "$T/run3.err"; tail -1 "$T/run3.out"; fail "run 3: expected exit 0, got $RC"; }
[ "$(report_field "$T/run3.out" 'sum(v["result"] == "done" for v in d["vms"])')" -ge 1 ] || fail "run 3 did nothing"
for n in a1 a2 a3 b1 b2 c1 c2 c3; do migrated "${U}-$n"; done
blk=$(virsh -c "${uri[$h3]}" domblklist "${U}-lv")
grep -q "libvirt/${U}-lv-vda" <<<"$blk" || fail "the live VM does not run on RBD: $blk"
[ "$(virsh -c "${uri[$h3]}" domstate "${U}-lv")" = running ] || fail "the live VM is not running"
[ "$(report_field "$T/run3.out" '[v["mode"] for v in d["vms"] if v["vm"].endswith("-lv")][0]')" = live ] ||
    fail "the report does not show the live VM as live"
on_source "${U}-bad"
# Each VM migrated once: one attempt for all but the re-attached c2 (which also had one).
python3 - "$fdir/journal" "$U" <<'EOF' || fail "a VM was started twice"
import json, sys, collections
starts = collections.Counter()
for line in open(sys.argv[1]):
    r = json.loads(line.split(" ", 1)[1])
    if r.get("event") == "vm-started":
        starts[r["vm"].split("/")[1]] += 1
u = sys.argv[2]
assert all(starts[f"{u}-{n}"] == 1 for n in ["a1", "a2", "a3", "b1", "b2", "c1", "c2", "c3", "lv"]), starts
assert starts[f"{u}-bad"] == 1, starts
EOF
[ "$(report_field "$T/run3.out" '[v["result"] for v in d["vms"] if v["vm"].endswith("-bad")][0]')" = "kept: failed" ] ||
    fail "run 3 did not keep the failed VM as it was"

note "3. --only retries the failed VM"
fleet run "$T/fleet.yaml" --only "${U}-bad" >"$T/run4.out" 2>"$T/run4.err" || { cat "$T/run4.err"; fail "run 4 failed"; }
migrated "${U}-bad"
grep -q "${U}-bad .* done" "$T/run4.out" || fail "run 4 report: $(cat "$T/run4.out")"

note "4. fleet cancel beside a running coordinator: stopped and rolled back on its host"
define_vm "$h1" "${U}-d1" 16
host_of[${U}-d1]=$h1
V2R_FAULT=after-copy=sleep:15 V2R_FAULT_DOMAIN=${U}-d1 "$V2R_BIN" fleet run "$T/fleet.yaml" --state-dir "$CS" \
    >"$T/run5.out" 2>"$T/run5.err" &
coord=$!
for _ in $(seq 1 120); do
    grep -q "vm-remote.*${U}-d1" "$fdir/journal" 2>/dev/null && break
    sleep 0.5
done
grep -q "vm-remote.*${U}-d1" "$fdir/journal" || { cat "$T/run5.err"; fail "d1 never started"; }
fleet cancel "$T/fleet.yaml" "${U}-d1" >"$T/cancel1.out" 2>&1 || { cat "$T/cancel1.out"; fail "fleet cancel failed"; }
grep -q "asked the running fleet run (pid $coord) to cancel ${U}-d1" "$T/cancel1.out" ||
    fail "cancel did not go to the coordinator: $(cat "$T/cancel1.out")"
set +e
wait "$coord"
RC=$?
set -e
coord=
[ "$RC" = 0 ] || { cat "$T/run5.err"; fail "run 5: expected exit 0, got $RC"; }
grep -q "${U}-d1 .* cancelled" "$T/run5.out" || fail "run 5 report: $(cat "$T/run5.out")"
on_source "${U}-d1"
if lrbd ls libvirt | grep -q "^${U}-d1-vda$"; then fail "the cancelled VM's image is left"; fi
fleet status "$T/fleet.yaml" --format json >"$T/status.json" || fail "fleet status --format json failed"
python3 - "$T/status.json" "$U" <<'EOF' || fail "status JSON: $(cat "$T/status.json")"
import json, sys
d = json.load(open(sys.argv[1]))
states = {v["vm"].split("/")[1]: v["state"] for v in d["vms"]}
u = sys.argv[2]
assert states[u + "-d1"] == "cancelled", states
assert states[u + "-a1"] == "done" and states[u + "-bad"] == "done", states
assert d["coordinator_pid"] is None, d
EOF

note "5. fleet cancel alone: a migrated VM rolled back on its host"
fleet cancel "$T/fleet.yaml" "${U}-a1" >"$T/cancel2.out" 2>"$T/cancel2.err" ||
    { cat "$T/cancel2.out" "$T/cancel2.err"; fail "fleet cancel a1 failed"; }
grep -q "${U}-a1 .* cancelled" "$T/cancel2.out" || fail "cancel report: $(cat "$T/cancel2.out")"
on_source "${U}-a1"
migrated "${U}-a2"

note "6. a host's network cut mid-copy: its VM re-attached when the host is back"
define_vm "$h2" "${U}-e1" 16
host_of[${U}-e1]=$h2
V2R_FAULT=after-copy=sleep:10 V2R_FAULT_DOMAIN=${U}-e1 "$V2R_BIN" fleet run "$T/fleet.yaml" --state-dir "$CS" \
    >"$T/run6.out" 2>"$T/run6.err" &
coord=$!
for _ in $(seq 1 120); do
    grep -q "vm-remote.*${U}-e1" "$fdir/journal" 2>/dev/null && break
    sleep 0.5
done
grep -q "vm-remote.*${U}-e1" "$fdir/journal" || { cat "$T/run6.err"; fail "e1 never started"; }
"$hosts" cut "$H" "$h2"
for _ in $(seq 1 40); do
    grep -q "${U}-e1: .*host lost" "$T/run6.err" && break
    sleep 0.5
done
grep -q "${U}-e1: .*host lost" "$T/run6.err" || { "$hosts" heal "$H" "$h2"; cat "$T/run6.err"; fail "the lost host was not noticed"; }
sleep 3
"$hosts" heal "$H" "$h2"
set +e
wait "$coord"
RC=$?
set -e
coord=
[ "$RC" = 0 ] || { cat "$T/run6.err"; fail "run 6: expected exit 0, got $RC"; }
grep -q "${U}-e1: .*(re-attached)" "$T/run6.err" || fail "run 6 did not re-attach: $(cat "$T/run6.err")"
migrated "${U}-e1"
python3 - "$fdir/journal" "$U" <<'EOF' || fail "e1 was started more than once"
import json, sys
n = sum(1 for l in open(sys.argv[1]) if '"vm-started"' in l and sys.argv[2] + "-e1" in l)
assert n == 1, n
EOF

note "7. a cluster near full pauses new starts; they go on when it is not"
lceph osd set-nearfull-ratio 0.0001 >/dev/null
for _ in $(seq 1 60); do
    lceph health 2>/dev/null | grep -qi nearfull && break
    sleep 1
done
lceph health 2>/dev/null | grep -qi nearfull || fail "the lab did not turn near full: $(lceph health)"
define_vm "$h3" "${U}-f1" 8
host_of[${U}-f1]=$h3
"$V2R_BIN" fleet run "$T/fleet.yaml" --state-dir "$CS" >"$T/run7.out" 2>"$T/run7.err" &
coord=$!
for _ in $(seq 1 60); do
    grep -q "${U}-f1: waiting: paused: cluster .*NEARFULL" "$T/run7.err" && break
    sleep 0.5
done
grep -q "${U}-f1: waiting: paused: cluster .*NEARFULL" "$T/run7.err" ||
    { lceph osd set-nearfull-ratio 0.85 >/dev/null; cat "$T/run7.err"; fail "the near-full cluster did not pause f1"; }
sleep 3
grep -q "vm-started.*${U}-f1" "$fdir/journal" && fail "f1 started on a near-full cluster"
lceph osd set-nearfull-ratio 0.85 >/dev/null
set +e
wait "$coord"
RC=$?
set -e
coord=
[ "$RC" = 0 ] || { cat "$T/run7.err"; fail "run 7: expected exit 0, got $RC"; }
migrated "${U}-f1"

note "8. an offline VM outside its cutover window waits, saying so; Ctrl-C stops the coordinator (exit 75)"
define_vm "$h1" "${U}-g1" 8
host_of[${U}-g1]=$h1
WINDOW=$(python3 -c 'import datetime as d; n = d.datetime.now(); f = lambda h: (n + d.timedelta(hours=h)).strftime("%H:%M"); print(f(2) + "-" + f(3))')
WINDOW=$WINDOW write_plan 4
"$V2R_BIN" fleet run "$T/fleet.yaml" --state-dir "$CS" >"$T/run8.out" 2>"$T/run8.err" &
coord=$!
for _ in $(seq 1 60); do
    grep -q "${U}-g1: waiting: window $WINDOW" "$T/run8.err" && break
    sleep 0.5
done
grep -q "${U}-g1: waiting: window $WINDOW" "$T/run8.err" || { cat "$T/run8.err"; fail "g1 does not wait for its window"; }
kill -INT "$coord"
set +e
wait "$coord"
RC=$?
set -e
coord=
[ "$RC" = 75 ] || { cat "$T/run8.err"; fail "run 8: Ctrl-C: expected exit 75, got $RC"; }
grep -q "fleet run interrupted: 0 VMs still migrating on their hosts, 1 not started" "$T/run8.err" ||
    fail "run 8: the interruption is not explained: $(tail -3 "$T/run8.err")"
grep -q "vm-started.*${U}-g1" "$fdir/journal" && fail "g1 started outside its window"
on_source "${U}-g1"
write_plan 4

stop_scanner
[ ! -s "$T/scan.hits" ] || fail "the key was seen in a process's argv or environment: $(cat "$T/scan.hits")"
key=$(cat "$T/coord/key")
if grep -rqF "$key" "$T"/run*.out "$T"/run*.err "$CS" "$T"/state*; then fail "the key is in an output or state file"; fi
[ -n "${V2R_KEEP_OUTPUT:-}" ] && cp -r "$T"/run*.out "$T"/run*.err "$T"/cancel* "$fdir/journal" "$V2R_KEEP_OUTPUT"/
note "ok"
