# 20 seeded random SIGKILLs during one copy with writes in flight, resuming
# each time: the final image is identical, and the bytes written again after
# each kill stay within the in-flight window plus one journal interval
# (docs/journal.md). Written bytes are counted by the cluster: the test uses
# a pool of its own and reads its client write counter (rados df).
source "$(dirname "$0")/e2e-lib.sh"

pool=${U}p
ceph osd pool create "$pool" 8 >/dev/null 2>&1
rbd pool init "$pool"
cleanup_pool() { ceph osd pool rm "$pool" "$pool" --yes-i-really-really-mean-it >/dev/null 2>&1 || true; }
dom=${U}-rk
user=${U}u
own_domain "$dom"
own_user "$user"

size=$((192 * 1048576))
head -c "$size" /dev/urandom >"$T/dense.img"   # every byte is data: nothing is skipped as zero
lun=$(attach_loop "$T/dense.img")
sha=$(sha256sum <"$lun" | cut -d' ' -f1)
guest_define "$dom" "$T" "block:$lun:vda"

in_flight=4            # chunks of 4 MiB in flight at most
interval=0.25          # seconds between progress records
bw=16                  # MiB/s, so that kills land mid-copy
args=(migrate "$dom" --pool "$pool" --client-user "$user" --no-start --verify none --quiet
      --in-flight "$in_flight" --in-flight-bytes $((in_flight * 4))M --journal-interval "$interval" --bandwidth "$bw")

pool_written() {
    sleep 3  # the mgr folds OSD stats in every second
    rados df -f json | python3 -c "import json,sys; print(next(p['write_bytes'] for p in json.load(sys.stdin)['pools'] if p['name']==sys.argv[1]))" "$pool"
}

RANDOM=4242   # seeded: the same kill times every run
kills=0
for i in $(seq 1 20); do
    delay=$(( 400 + RANDOM % 900 ))   # 0.4 .. 1.3 s after start
    "$V2R_BIN" "${args[@]}" --state-dir "$STATE" >/dev/null 2>&1 &
    pid=$!
    sleep "$(printf '0.%03d' $((delay % 1000)))"; [ "$delay" -ge 1000 ] && sleep 1
    if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
    wait "$pid" 2>/dev/null || true
done
echo "killed $kills times"
[ "$kills" -ge 15 ] || fail "too few kills landed ($kills)"
v2r "${args[@]}"
expect_rc 0
[ "$(image_sha256 "$pool/$dom-vda")" = "$sha" ] || { cleanup_pool; fail "image differs from the source after $kills kills"; }
written=$(pool_written)
extra=$((written - size))
bound=$(( kills * (in_flight * 4 * 1048576 + bw * 1048576 * 2 / 4 + 4 * 1048576) ))
echo "pool writes: $written bytes for a $size byte disk: $extra written again over $kills kills ($((extra / (kills > 0 ? kills : 1) / 1048576)) MiB per kill; bound $((bound / kills / 1048576)) MiB per kill)"
v2r rollback "$dom" --remove-images --no-start
cleanup_pool
[ "$extra" -le "$bound" ] || fail "wrote $extra bytes again, more than the bound $bound"
