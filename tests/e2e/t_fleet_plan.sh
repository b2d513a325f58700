#!/usr/bin/env bash
# virt2rbd fleet plan (issue 14): two simulated hypervisors (scripts/hosts: own netns, sshd and
# libvirtd each) and a Ceph lab of this test's own on their bridge. The coordinator holds the
# only keyring: the hosts get it on stdin (the conf they read names none), and the key is in no
# process's argv or environment while the plan runs. A good fleet would proceed (text and JSON,
# totals); every reason is listed at once, exit 3: a VM named but not defined, the same image
# name from two hosts, the same VM (UUID) on two hosts, a host whose virt2rbd is missing, a host
# cut off; a bad plan file is a usage error naming the line; a keyring others can read is
# refused. Nothing is changed anywhere: no image, user or secret, the domains as they were.
# shellcheck disable=SC1091
source "$(dirname "$0")/e2e-lib.sh"
TEST_NAME=t_fleet_plan
hosts=${V2R_SRC:?}/scripts/hosts
H=$T/hosts
L=$T/lab

_fleet_cleanup() {
    local rc=$?
    [ -n "${scanner:-}" ] && kill "$scanner" 2>/dev/null
    [ -d "$H" ] && "$hosts" down "$H" >/dev/null 2>&1
    [ -d "$L" ] && "$V2R_SRC/scripts/lab" down "$L" >/dev/null 2>&1
    return $rc
}
trap '_fleet_cleanup; _e2e_cleanup' EXIT

note "two hosts, and a lab on their bridge"
"$hosts" up "$H" --count 2 --prefix "f${U: -6}" >"$T/hosts.out" 2>&1 || { cat "$T/hosts.out"; fail "hosts up failed"; }
"$V2R_SRC/scripts/lab" up "$L" --addr "$(cat "$H/bridge")" --osd-size 1024 --no-libvirt >"$T/lab.out" 2>&1 ||
    { tail -20 "$T/lab.out"; fail "lab up failed"; }
read -r n1 a1 _ u1 < <(sed -n 1p <("$hosts" list "$H"))
read -r n2 a2 _ u2 < <(sed -n 2p <("$hosts" list "$H"))
lceph() { ceph --conf "$L/ceph.conf" --keyring "$L/ceph.client.admin.keyring" "$@"; }
lrbd() { rbd --conf "$L/ceph.conf" --keyring "$L/ceph.client.admin.keyring" "$@"; }

# The hosts' conf names no keyring; the coordinator's keyring is the only copy of the key.
mkdir -m 0700 "$T/coord"
cp "$L/ceph.client.admin.keyring" "$T/coord/admin.keyring"
chmod 0600 "$T/coord/admin.keyring"
awk '/^\[client\]/{skip=1} /^\[/{if ($0 != "[client]") skip=0} !skip' "$L/ceph.conf" >"$T/cluster.conf"
grep -q "ceph.client.admin.keyring" "$T/cluster.conf" && fail "the hosts' conf still names the keyring"
lceph auth print-key client.admin >"$T/coord/key"

note "VMs: two on each host, shut off, raw file disks"
mkdir -p "$T/disks"
define_vm() {  # URI NAME [UUID]
    local uri=$1 name=$2 uuid=${3:-}
    truncate -s 16M "$T/disks/$name.raw"
    printf 'data of %s' "$name" | dd of="$T/disks/$name.raw" conv=notrunc status=none
    cat >"$T/$name.xml" <<EOF
<domain type='qemu'><name>$name</name>${uuid:+<uuid>$uuid</uuid>}<memory unit='MiB'>64</memory>
<os><type arch='x86_64'>hvm</type></os>
<devices><disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='$T/disks/$name.raw'/>
<target dev='vda' bus='virtio'/></disk></devices></domain>
EOF
    virsh -c "$uri" define "$T/$name.xml" >/dev/null || fail "define $name failed"
}
define_vm "$u1" "${U}-web1"
define_vm "$u1" "${U}-db1"
define_vm "$u2" "${U}-web2"
define_vm "$u2" "${U}-db2"
before=$( { virsh -c "$u1" dumpxml "${U}-web1"; virsh -c "$u2" dumpxml "${U}-db2"; lrbd ls libvirt; lceph auth ls 2>/dev/null | grep '^client\.'; } )

write_plan() {  # FILE [EXTRA YAML for host two's vms]
    cat >"$1" <<EOF
version: 1
cluster:
  conf: $T/cluster.conf
  keyring: $T/coord/admin.keyring
  pool: libvirt
  client_user: ${U}vm
transport:
  ssh_command: $H/ssh
  connect_timeout: 5
hosts:
  - name: one
    ssh: root@$a1
    virt2rbd: $V2R_BIN
    state_dir: $T/state1
    vms:
      - ${U}-web1
      - match: "${U}-db*"
  - name: two
    ssh: root@$a2
    virt2rbd: ${TWO_BIN:-$V2R_BIN}
    state_dir: $T/state2
    vms:
      - all: true
${2:-}
EOF
}

# Scans every process's argv and environment for the key while the plan runs.
start_scanner() {
    python3 - "$T/coord/key" "$T/scan.hits" <<'EOF' &
import os, sys, time
key = open(sys.argv[1], "rb").read().strip()
hits = set()
end = time.time() + 120
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

note "the scanner sees a key in an environment (so that it can fail)"
start_scanner
env V2R_CANARY="$(cat "$T/coord/key")" sleep 3 &
canary=$!
sleep 2
kill "$canary" 2>/dev/null; wait "$canary" 2>/dev/null || true
stop_scanner
grep -q "^$canary environ" "$T/scan.hits" || fail "the key scanner missed the canary: $(cat "$T/scan.hits")"

note "a good fleet would proceed; the key reaches the hosts on stdin only"
write_plan "$T/good.yaml"
start_scanner
sleep 0.5
run_v2r fleet plan "$T/good.yaml"
stop_scanner
expect_rc 0
grep -q "2 hosts, 4 VMs to move (4 disks)" "$T/out" || { cat "$T/out"; fail "the summary does not count 4 VMs, 4 disks"; }
grep -q "fleet run would proceed" "$T/out" || { cat "$T/out"; fail "no 'would proceed'"; }
[ ! -s "$T/scan.hits" ] || fail "the key was seen in a process's argv or environment: $(cat "$T/scan.hits")"
if grep -qF "$(cat "$T/coord/key")" "$T/out" "$T/err"; then fail "the key is in fleet plan's output"; fi

note "JSON: one document, every host and VM, totals"
run_v2r fleet plan "$T/good.yaml" --format json
expect_rc 0
python3 - "$T/out" "$U" <<'EOF' || fail "fleet plan JSON is not as expected"
import json, sys
d = json.load(open(sys.argv[1]))
u = sys.argv[2]
assert d["would_proceed"] is True, d["refusals"]
assert d["vms_moving"] == 4 and d["disks_moving"] == 4, d
assert [h["name"] for h in d["hosts"]] == ["one", "two"]
vms = {(h["name"], v["name"]) for h in d["hosts"] for v in h["vms"]}
assert vms == {("one", u + "-web1"), ("one", u + "-db1"), ("two", u + "-web2"), ("two", u + "-db2")}, vms
for h in d["hosts"]:
    for v in h["vms"]:
        assert v["plan"]["would_proceed"], v
        assert v["plan"]["disks"][0]["image"] == "libvirt/" + v["name"] + "-vda", v["plan"]["disks"][0]
assert d["known_bytes"] > 0 and d["available_bytes"] > d["known_bytes"], d
EOF

note "every reason at once: a missing VM, an image and a UUID on two hosts, no virt2rbd, a cut host"
uuid=$(python3 -c 'import uuid; print(uuid.uuid4())')
define_vm "$u1" "${U}-twin" "$uuid"
define_vm "$u2" "${U}-twin" "$uuid"
write_plan "$T/bad.yaml" "      - ${U}-ghost"
sed -i "s|^      - match: \"${U}-db\\*\"|&\n      - ${U}-twin|" "$T/bad.yaml"
run_v2r fleet plan "$T/bad.yaml"
expect_rc 3
expect_err "fleet run would refuse"
for want in "host two: VM ${U}-ghost is not defined there" \
            "image libvirt/${U}-twin-vda would be written by one/${U}-twin and two/${U}-twin" \
            "VM $uuid is defined on more than one host (one/${U}-twin, two/${U}-twin)"; do
    grep -qF -- "$want" "$T/out" || { cat "$T/out"; fail "missing reason: $want"; }
done
TWO_BIN=/nonexistent/virt2rbd write_plan "$T/nobin.yaml"
"$hosts" cut "$H" "$n1"
run_v2r fleet plan "$T/nobin.yaml"
"$hosts" heal "$H" "$n1"
expect_rc 3
grep -qF "host one: ssh root@$a1 failed" "$T/out" || { cat "$T/out"; fail "the cut host is not reported"; }
grep -qF "host two: /nonexistent/virt2rbd is not installed there" "$T/out" ||
    { cat "$T/out"; fail "the missing virt2rbd is not reported"; }

note "bad plan files and keyrings: usage errors naming the line, refusals naming the fix"
printf 'version: 1\ncluster: {pool: libvirt}\nhosts:\n  - name: h\n    ssh: h\n    slot: 2\n    vms: [a]\n' >"$T/typo.yaml"
run_v2r fleet plan "$T/typo.yaml"
expect_rc 2
expect_err "typo.yaml:6: unknown key 'slot' in a host"
chmod 0644 "$T/coord/admin.keyring"
run_v2r fleet plan "$T/good.yaml"
chmod 0600 "$T/coord/admin.keyring"
expect_rc 3
expect_err "may be read by others"
expect_err "chmod 0600"

note "nothing changed"
virsh -c "$u1" undefine "${U}-twin" >/dev/null
virsh -c "$u2" undefine "${U}-twin" >/dev/null
after=$( { virsh -c "$u1" dumpxml "${U}-web1"; virsh -c "$u2" dumpxml "${U}-db2"; lrbd ls libvirt; lceph auth ls 2>/dev/null | grep '^client\.'; } )
[ "$before" = "$after" ] || fail "fleet plan changed something: $(diff <(echo "$before") <(echo "$after"))"
for st in "$T/state1" "$T/state2"; do
    if [ -d "$st" ] && [ -n "$(find "$st" -type f)" ]; then fail "fleet plan wrote into $st: $(find "$st" -type f)"; fi
done
