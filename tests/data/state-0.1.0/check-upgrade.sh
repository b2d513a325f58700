# An operator upgrades mid-migration: journals and progress files written by
# virt2rbd 0.1.0 (V2R_OLD_BIN) on a lab, finished by the binary under test
# (V2R_BIN). Not in CI (it needs a 0.1.0 binary); run it by hand:
#
#   V2R_OLD_BIN=/path/to/virt2rbd-0.1.0 V2R_BIN=build/virt2rbd \
#     V2R_LAB_STATE=/var/tmp/lab-X.state V2R_SRC=. bash tests/data/state-0.1.0/check-upgrade.sh
#
# 1. 0.1.0 killed mid-copy, the new binary resumes (inside the disks) and
#    finishes: images equal their sources, no version record added to the
#    old journal. 2. 0.1.0 migrated, the new one rolls back. 3. 0.1.0
#    migrated, the new one commits.
: "${V2R_OLD_BIN:?V2R_OLD_BIN must point at a virt2rbd 0.1.0 binary}"
source "$(dirname "$0")/../../e2e/e2e-lib.sh"
"$V2R_OLD_BIN" --version | grep -qx 'virt2rbd 0.1.0' || fail "V2R_OLD_BIN is not virt2rbd 0.1.0"

n=0
new_domain() {
    n=$((n + 1))
    DOM=${U}-up$n
    user=${U}u$n
    own_domain "$DOM"
    own_user "$user"
    make_islands "$T/$n-a.img" $((24 * 1048576)) 0:64 3:4096 17:2048
    LUN=$(attach_loop "$T/$n-a.img")
    SHA=$(sha256sum <"$LUN" | cut -d' ' -f1)
    guest_define "$DOM" "$T" "block:$LUN:vda"
    XML0=$(domain_xml "$DOM")
    J=$STATE/domains/$(virsh domuuid "$DOM")/journal
}
old() { V2R_BIN=$V2R_OLD_BIN run_v2r "$@" --state-dir "$STATE"; }
mig_args() { echo migrate "$DOM" --pool "$POOL" --client-user "$user"; }

note "1. 0.1.0 killed mid-copy, resumed by the binary under test"
new_domain
V2R_FAULT=progress-record-2=crash old $(mig_args) --journal-interval 0.1 --bandwidth 8
[ "$RC" = 137 ] || { cat "$T/err"; fail "expected SIGKILL, got $RC"; }
v2r $(mig_args)
expect_rc 0
[ "$(image_sha256 "$POOL/$DOM-vda")" = "$SHA" ] || fail "the resumed image differs from its source"
grep -q '"event":"copy-resume"' "$J" || fail "the new binary did not resume the old copy"
grep -q '"event":"journal"' "$J" && fail "a version record was added to a 0.1.0 journal"
v2r status "$DOM" --format json
expect_rc 0
grep -q '"phase": "migrated"' "$T/out" || fail "status does not say migrated"

note "2. 0.1.0 migrated, rolled back by the new binary"
new_domain
old $(mig_args)
expect_rc 0
v2r rollback "$DOM" --remove-images
expect_rc 0
[ "$(domain_xml "$DOM")" = "$XML0" ] || fail "the definition was not restored"
[ -z "$(rbd ls "$POOL" | grep "^$DOM-" || true)" ] || fail "images left"

note "3. 0.1.0 migrated, committed by the new binary; a new migration starts with the version record"
new_domain
old $(mig_args)
expect_rc 0
v2r commit "$DOM"
expect_rc 0
rbd snap ls "$POOL/$DOM-vda" | grep -q virt2rbd-switch && fail "commit left the rollback snapshot"
v2r rollback "$DOM" --remove-images  # refused: committed
[ "$RC" != 0 ] || fail "a committed migration was rolled back"
new_domain
v2r $(mig_args)
expect_rc 0
head -1 "$J" | grep -q '"event":"journal"' || fail "a new journal does not start with the version record"
echo "0.1.0 state finished by the new binary in 3 ways"
