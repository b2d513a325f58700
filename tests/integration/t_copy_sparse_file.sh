# A raw file with holes, of an odd size, copied: identical, thin, verified;
# then one object of the image is overwritten and verify must catch it.
source "$(dirname "$0")/lib.sh"

src=$T/disk.raw
# 37 MiB + 12345 bytes: not a multiple of 4 KiB, of the chunk or of the object.
make_islands "$src" $((37 * 1048576 + 12345)) 0:64 3:1500 20:8 36:1024
img=$POOL/${U}-file
own_image "$img"

note "copy (json summary, plain progress lines)"
run_v2r copy "$src" "$img" --format json --progress-interval 1
expect_rc 0
python3 - "$T/out" "$src" <<'PY'
import json, os, sys
d = json.load(open(sys.argv[1]))
size = os.path.getsize(sys.argv[2])
assert d["size"] == size, d
assert d["verified"] is True, d
assert d["digest"].startswith("xxh3-128-4m:"), d
assert d["bytes_copied"] + d["bytes_zero"] == size, d
assert 0 < d["bytes_copied"] < size, d
for k in ("seconds", "rate_bytes_per_s", "source", "image", "verify_seconds"):
    assert k in d, k
PY
grep -q "^copy: " "$T/err" || fail "no progress line on stderr"
grep -q "^verify: " "$T/err" || fail "no verify progress line on stderr"
digest=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["digest"])' "$T/out")

note "identical: rbd export hash equals the source's"
[ "$(image_sha256 "$img")" = "$(file_sha256 "$src")" ] || fail "image content differs from the source"
[ "$(rbd info --format json "$img" | python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])')" = \
  "$(stat -c %s "$src")" ] || fail "image size is not the source's exact size"

note "thin: used space within the source's data rounded to objects"
used=$(image_used "$img")
limit=$(data_objects_bytes "$src")
echo "used=$used limit=$limit"
[ "$used" -le "$limit" ] || fail "image uses $used bytes, more than $limit"

note "verify passes"
run_v2r verify "$src" "$img" --format json
expect_rc 0
python3 - "$T/out" "$digest" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["identical"] is True and d["mismatches"] == [], d
assert d["digest"] == sys.argv[2] == d["image_digest"], (d, sys.argv[2])
PY

note "overwrite object 5 (bytes 20..24 MiB) with other data: verify must fail and name it"
prefix=$(rbd info --format json "$img" | python3 -c 'import json,sys; print(json.load(sys.stdin)["block_name_prefix"])')
head -c 4194304 /dev/urandom >"$T/junk"
rados -p "$POOL" put "$prefix.0000000000000005" "$T/junk"
run_v2r verify "$src" "$img"
expect_rc 5
expect_err "differ"
expect_err "bytes 20971520\.\.25165824"
