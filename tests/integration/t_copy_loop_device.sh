# A loop device (a "LUN": no hole map) with data islands, of an odd size:
# copied identical, thin by zero detection, verified.
source "$(dirname "$0")/lib.sh"

backing=$T/lun.img
# 45 MiB + 3 sectors: loop devices are sized in 512-byte sectors.
make_islands "$backing" $((45 * 1048576 + 1536)) 1:256 9:4096 30:4 44:1025
dev=$(attach_loop "$backing")
[ "$(blockdev --getsize64 "$dev")" = $((45 * 1048576 + 1536)) ] || fail "loop device has an unexpected size"
img=$POOL/${U}-lun
own_image "$img"

run_v2r copy "$dev" "$img" --quiet --format json
expect_rc 0
[ ! -s "$T/err" ] || { cat "$T/err"; fail "--quiet printed on stderr"; }
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["verified"] and d["size"]==45*1048576+1536, d' "$T/out"

[ "$(image_sha256 "$img")" = "$(file_sha256 "$dev")" ] || fail "image content differs from the device"
used=$(image_used "$img")
limit=$(data_objects_bytes "$dev")
echo "used=$used limit=$limit"
[ "$used" -le "$limit" ] || fail "image uses $used bytes, more than $limit"

run_v2r verify "$dev" "$img"
expect_rc 0
grep -q "^identical" "$T/out" || fail "verify did not say identical"
