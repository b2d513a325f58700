# plan/migrate bad inputs: each gets a clear message and its exit code, and
# changes nothing: images, cephx users and libvirt secrets of this test, the
# domains' persistent definitions (with secure info), their state, their
# snapshots, and the set of domains, compared before and after every case.
# `plan` refuses (non-zero, every reason on stdout) wherever migrate would.
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/guest-lib.sh"
note() { echo "--- [${SECONDS}s] $*"; }

D="${U}-dom"         # the shut-off test domain (two block disks on loop devices)
R="${U}-run"         # a running domain (its own two block disks)
LUN="${U}-lun"       # a domain with a device='lun' disk
TR="${U}-tr"         # a transient domain
OTHER="${U}-other"   # a domain sharing a disk with $D
CU="${U}u"           # the VM's cephx id
STATE="$T/state"

_domains=()
_v2r_cleanup() {
    local rc=$?
    set +e
    local dom s img uuid
    for dom in "${_domains[@]}"; do
        for s in $(virsh -q snapshot-list --name "$dom" 2>/dev/null); do
            virsh -q snapshot-delete "$dom" "$s" --metadata >/dev/null 2>&1
        done
        guest_undefine "$dom"
    done
    for img in $(rbd ls "$POOL" 2>/dev/null | grep -- "^${U}-"); do
        rbd snap purge --no-progress "$POOL/$img" >/dev/null 2>&1
        rbd rm --no-progress "$POOL/$img" >/dev/null 2>&1
    done
    ceph auth del "client.$CU" >/dev/null 2>&1
    for uuid in $(virsh -q secret-list 2>/dev/null | awk -v u="client.$CU secret" 'index($0, u) { print $1 }'); do
        virsh -q secret-undefine "$uuid" >/dev/null 2>&1
    done
    detach_own_loops
    (exit $rc)
    _cleanup
}
trap _v2r_cleanup EXIT

# expect_out REGEX: stdout of the last run_v2r matches.
expect_out() {
    grep -Eq -- "$1" "$T/out" || { cat "$T/out" >&2; fail "stdout does not match /$1/"; }
}

# Everything a refused command must leave alone (only what belongs to this
# test: other tests share the pool, the cluster and libvirtd).
state_snapshot() {
    local dom
    echo "## images"
    rbd ls "$POOL" | { grep -- "^${U}-" || true; } | sort
    if rbd info "$POOL/${U}-dom-vda" >"$T/info.txt" 2>/dev/null; then
        grep -E '^\s*(size |block_name_prefix:|snapshot_count:)' "$T/info.txt"
    fi
    echo "## cephx users"
    # (the entity names are the lines that are not indented)
    ceph auth ls 2>/dev/null | awk -v u="$U" '/^[^ \t]/ && index($0, u)' | sort
    echo "## libvirt secrets"
    virsh -q secret-list | { grep -F -- "$U" || true; }
    echo "## domains"
    virsh -q list --all --name | { grep -- "^${U}-" || true; } | sort
    for dom in $(virsh -q list --all --name | grep -- "^${U}-" | sort); do
        echo "## domain $dom: $(virsh domstate "$dom" | sed -n 1p), id $(virsh domid "$dom" | sed -n 1p)," \
            "persistent $(virsh dominfo "$dom" | awk '/^Persistent:/ { print $2 }')"
        echo "snapshots: $(virsh -q snapshot-list --name "$dom" | tr '\n' ' ')"
        virsh dumpxml --inactive --security-info "$dom"
    done
}
baseline() { state_snapshot >"$T/before"; }
expect_unchanged() {
    state_snapshot >"$T/after"
    diff -u "$T/before" "$T/after" >&2 || fail "$1: something changed (diff above)"
}

# refused CASE CODE REGEX ARGS...: run ARGS, expect exit CODE, REGEX on
# stderr, and no change. LAST_MS: how long the command took.
refused() {
    local what=$1 code=$2 re=$3 t0
    shift 3
    note "$what: virt2rbd $*"
    t0=$(date +%s%N)
    run_v2r "$@"
    LAST_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
    expect_rc "$code"
    expect_err "$re"
    expect_unchanged "$what"
}
# plan_refused CASE REGEX... -- ARGS...: plan exits 3, stdout says migrate
# would refuse and matches every REGEX, stderr counts the reasons.
plan_refused() {
    local what=$1 res=()
    shift
    while [ "$1" != -- ]; do res+=("$1"); shift; done
    shift
    note "$what (plan): virt2rbd plan $*"
    run_v2r plan "$@"
    expect_rc 3
    expect_out "migrate would REFUSE \\(${#res[@]} reasons?\\)"
    expect_err "migrate would refuse: ${#res[@]} reasons? above"
    local re
    for re in "${res[@]}"; do expect_out "$re"; done
    expect_unchanged "$what (plan)"
}

guest_build
mkdir -p "$T/src"
echo "virt2rbd bad inputs $U" >"$T/src/hello.txt"
make_fs_image "$T/vda.img" 16 "$T/src"
cp --sparse=always "$T/vda.img" "$T/run-vda.img"
truncate -s 8M "$T/vdb.raw" "$T/run-vdb.raw"
truncate -s 4M "$T/lun-a.raw" "$T/lun-b.raw" "$T/tr.raw"
loop_a=$(attach_loop "$T/vda.img")
loop_b=$(attach_loop "$T/vdb.raw")
_domains+=("$D")
guest_define "$D" "$T" "block:$loop_a:vda" "block:$loop_b:vdb"
COMMON=(--pool "$POOL" --state-dir "$STATE" --client-user "$CU")
# The running domain boots while the shut-off cases run (every case also
# checks that it is left alone: same id, same definition).
loop_ra=$(attach_loop "$T/run-vda.img")
loop_rb=$(attach_loop "$T/run-vdb.raw")
_domains+=("$R")
guest_define "$R" "$T" "block:$loop_ra:vda" "block:$loop_rb:vdb"
rlog=$(guest_log "$R" "$T")
guest_start "$R"

note "a good plan first: it succeeds and changes nothing"
baseline
run_v2r plan "$D" "${COMMON[@]}"
expect_rc 0
expect_out "migrate would proceed"
expect_out "$POOL/${D}-vda"
expect_unchanged "good plan"

# --- refusals of a shut-off domain --------------------------------------------
baseline
refused "unknown domain" 3 "domain '${U}-nosuch' not found" migrate "${U}-nosuch" "${COMMON[@]}"
refused "unknown domain (plan)" 3 "domain '${U}-nosuch' not found" plan "${U}-nosuch" "${COMMON[@]}"

refused "missing pool" 3 "pool '${U}nopool' does not exist" \
    migrate "$D" --pool "${U}nopool" --state-dir "$STATE" --client-user "$CU"
expect_err "ceph osd pool create ${U}nopool"
plan_refused "missing pool" "pool '${U}nopool' does not exist" -- \
    "$D" --pool "${U}nopool" --state-dir "$STATE" --client-user "$CU"

refused "disk not in the domain" 3 "disk vdz is not in domain $D \\(its disks: vda, vdb\\)" \
    migrate "$D" "${COMMON[@]}" --disks vda,vdz
plan_refused "disk not in the domain" "disk vdz is not in domain $D \\(its disks: vda, vdb\\)" -- \
    "$D" "${COMMON[@]}" --disks vda,vdz

note "remote URI: refused at once, nothing contacted (no ssh run, no monitor asked)"
mkdir -p "$T/fakebin"
printf '#!/bin/sh\ntouch %s/ssh-was-run\nexit 255\n' "$T" >"$T/fakebin/ssh"
chmod +x "$T/fakebin/ssh"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf '[global]\nmon host = 127.0.0.1:%s\n' "$port" >"$T/dead.conf"
for cmd in migrate plan; do
    PATH="$T/fakebin:$PATH" refused "remote URI ($cmd)" 3 "URI qemu\\+ssh://root@somehost.invalid/system is not local" \
        "$cmd" "$D" "${COMMON[@]}" --connect qemu+ssh://root@somehost.invalid/system \
        --conf "$T/dead.conf" --connect-timeout 10
    ms=$LAST_MS
    [ "$ms" -lt 5000 ] || fail "remote URI ($cmd): took $ms ms to refuse"
    [ ! -e "$T/ssh-was-run" ] || fail "remote URI ($cmd): ssh was run"
    echo "refused after $ms ms"
done

for cmd in migrate plan; do
    refused "--id with --name ($cmd)" 2 "--id and --name are mutually exclusive" \
        "$cmd" "$D" "${COMMON[@]}" --id admin --name client.admin
    refused "--start with --no-start ($cmd)" 2 "--start and --no-start are mutually exclusive" \
        "$cmd" "$D" "${COMMON[@]}" --start --no-start
done

# A --mon-hosts value that does not parse is refused with a message naming it
# (exit 3 today: it is reported with the other preflight refusals; 2 would do).
for bad in "${U}host:notaport" "127.0.0.1:99999" "a,,b"; do
    note "bad --mon-hosts '$bad'"
    run_v2r migrate "$D" "${COMMON[@]}" --mon-hosts "$bad"
    [ "$RC" = 2 ] || [ "$RC" = 3 ] || expect_rc 3
    expect_err "--mon-hosts"
    expect_err "$(printf '%s' "$bad" | sed 's/[][\.*^$+?(){}|]/\\&/g')"
    expect_unchanged "bad --mon-hosts '$bad'"
done

note "image name taken"
rbd create --size 4M "$POOL/${D}-vda"
own_image "$POOL/${D}-vda"
baseline
refused "image taken" 3 "image $POOL/${D}-vda already exists" migrate "$D" "${COMMON[@]}"
plan_refused "image taken" "image $POOL/${D}-vda already exists" -- "$D" "${COMMON[@]}"

note "snapshot present (metadata only, redefined)"
{
    echo "<domainsnapshot><name>s1</name><state>shutoff</state><creationTime>1700000000</creationTime>"
    echo "<memory snapshot='no'/><disks><disk name='vda' snapshot='internal'/><disk name='vdb' snapshot='internal'/></disks>"
    virsh dumpxml --inactive --security-info "$D"
    echo "</domainsnapshot>"
} >"$T/snap.xml"
virsh -q snapshot-create "$D" "$T/snap.xml" --redefine >/dev/null
[ "$(virsh -q snapshot-list --name "$D" | sed '/^$/d')" = s1 ] || fail "could not make the snapshot"
baseline
# two reasons at once (the image is still taken): both listed
refused "snapshot + image taken" 3 "refused \\(2 reasons\\)" migrate "$D" "${COMMON[@]}"
expect_err "domain $D has snapshots \\(s1\\)"
expect_err "image $POOL/${D}-vda already exists"
plan_refused "snapshot + image taken" "domain $D has snapshots \\(s1\\)" "image $POOL/${D}-vda already exists" -- \
    "$D" "${COMMON[@]}"
rbd rm --no-progress "$POOL/${D}-vda" >/dev/null
baseline
refused "snapshot" 3 "domain $D has snapshots \\(s1\\) that reference its disks" migrate "$D" "${COMMON[@]}"
expect_err "refused \\(1 reason\\)"
plan_refused "snapshot" "domain $D has snapshots \\(s1\\)" -- "$D" "${COMMON[@]}"
virsh -q snapshot-delete "$D" s1 --metadata >/dev/null

note "a disk shared with another defined domain"
_domains+=("$OTHER")
guest_define "$OTHER" "$T" "block:$loop_b:vda"
baseline
refused "shared disk" 3 "disk vdb: source $loop_b is also a disk of domain $OTHER" migrate "$D" "${COMMON[@]}"
plan_refused "shared disk" "disk vdb: source $loop_b is also a disk of domain $OTHER" -- "$D" "${COMMON[@]}"
guest_undefine "$OTHER"

note "a device='lun' disk"
loop_la=$(attach_loop "$T/lun-a.raw")
loop_lb=$(attach_loop "$T/lun-b.raw")
_domains+=("$LUN")
guest_define "$LUN" "$T" "block:$loop_la:vda" "block:$loop_lb:vdb"
virsh dumpxml --inactive --security-info "$LUN" | /usr/bin/python3 -c '
import re, sys
s = sys.stdin.read()
def lun(m):
    d = m.group(0)
    return d.replace("device=\x27disk\x27", "device=\x27lun\x27", 1) if "dev=\x27vdb\x27" in d else d
sys.stdout.write(re.sub(r"<disk .*?</disk>", lun, s, flags=re.S))' >"$T/lun.xml"
virsh -q define "$T/lun.xml" >/dev/null
[[ $(virsh dumpxml --inactive "$LUN") == *"device='lun'"* ]] || fail "could not define a device='lun' disk"
baseline
refused "lun disk" 3 "disk vdb: SCSI passthrough \\(device='lun'\\) cannot move to RBD" migrate "$LUN" "${COMMON[@]}"
plan_refused "lun disk" "disk vdb: SCSI passthrough \\(device='lun'\\)" -- "$LUN" "${COMMON[@]}"
note "lun disk left out with --disks vda: accepted by plan"
run_v2r plan "$LUN" "${COMMON[@]}" --disks vda
expect_rc 0
expect_unchanged "lun disk left out (plan)"

note "no refusal recorded a migration"
run_v2r status --state-dir "$STATE"
expect_rc 0
expect_out "no migrations recorded"

# --- refusals of running domains ----------------------------------------------
note "transient domain (virsh create)"
loop_tr=$(attach_loop "$T/tr.raw")
_domains+=("$TR")
guest_define "$TR" "$T" "block:$loop_tr:vda"
virsh -q undefine "$TR" >/dev/null
virsh -q create "$T/$TR.xml" >/dev/null
[ "$(virsh dominfo "$TR" | awk '/^Persistent:/ { print $2 }')" = no ] || fail "$TR is not transient"
baseline
# --force-off: a transient domain is refused for being transient, not for running
refused "transient domain" 3 "domain $TR is transient" migrate "$TR" "${COMMON[@]}" --force-off
plan_refused "transient domain" "domain $TR is transient" -- "$TR" "${COMMON[@]}" --force-off
[ "$(guest_state "$TR")" = running ] || fail "the transient domain is not running any more"
guest_undefine "$TR"

note "running domain without --shutdown/--force-off"
guest_wait_ready "$rlog" 120
baseline
refused "running, no stop option" 3 "domain $R is running: add --shutdown .*--force-off" migrate "$R" "${COMMON[@]}"
plan_refused "running, no stop option" "domain $R is running: add --shutdown" -- "$R" "${COMMON[@]}"
note "plan --shutdown of a running domain: would proceed, stops nothing"
run_v2r plan "$R" "${COMMON[@]}" --shutdown --force-off
expect_rc 0
expect_out "migrate would proceed"
expect_unchanged "plan --shutdown --force-off"

note "running domain with two reasons: not stopped, both listed"
refused "running + disk not in the domain" 3 "refused \\(2 reasons\\)" migrate "$R" "${COMMON[@]}" --disks vdz
expect_err "domain $R is running"
expect_err "disk vdz is not in domain $R"
refused "running + missing pool, with --shutdown" 3 "pool '${U}nopool' does not exist" \
    migrate "$R" --pool "${U}nopool" --state-dir "$STATE" --client-user "$CU" --shutdown --force-off

note "paused domain without --shutdown/--force-off"
virsh -q suspend "$R" >/dev/null
baseline
refused "paused, no stop option" 3 "domain $R is paused: add --shutdown" migrate "$R" "${COMMON[@]}"
virsh -q resume "$R" >/dev/null

[ "$(guest_boots "$rlog")" = 1 ] || fail "$R booted $(guest_boots "$rlog") times: it was restarted"
[ "$(guest_state "$R")" = running ] || fail "$R is not running"
[ "$(guest_state "$D")" = "shut off" ] || fail "$D is not shut off"

run_v2r status --state-dir "$STATE"
expect_rc 0
expect_out "no migrations recorded"
