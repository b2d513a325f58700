#!/usr/bin/env bash
# The event stream (--progress-fd), the operator's output and the run log,
# on real offline migrations of a shut-off domain (two raw file disks):
#  a) a read error on vdb mid-copy: the stream has the copy step ending
#     "failed" with the error and exit code 4, then the undo, and the report
#     with exit code 4; the log says the same;
#  b) the migration again, with --progress-fd 3 and --log-file: every line is
#     JSON with type, time, seq (1, 2, ...) and the domain; steps start and
#     end in pairs, in order, durations >= 0; progress never goes back within
#     a phase and ends at its total; the report's migration equals `status
#     --format json`'s; the terminal shows the plan once, before the step
#     lines, and the summary (data written, zeros skipped, RBD space used);
#     the state dir's log exists, mode 0600, names every step and the result;
#  c) rollback --remove-images with --progress-fd: its steps and report;
#  d) no cephx key in any stream, log or output; --progress-fd on a closed fd
#     is a usage error (2) and changes nothing.
source "$(dirname "$0")/e2e-lib.sh"

D="${U}-ev"
CU="${U}u"
own_domain "$D"
own_user "$CU"
guest_build
truncate -s 24M "$T/vda.raw" "$T/vdb.raw"
dd if=/dev/urandom of="$T/vda.raw" bs=1M count=2 conv=notrunc status=none
dd if=/dev/urandom of="$T/vdb.raw" bs=1M seek=8 count=4 conv=notrunc status=none
guest_define "$D" "$T" "file:$T/vda.raw:vda" "file:$T/vdb.raw:vdb"
uuid=$(virsh domuuid "$D" | sed -n 1p)
COMMON=(--pool "$POOL" --client-user "$CU" --no-start)

# check_stream FILE: the rules every stream obeys; prints the event types.
check_stream() {
    /usr/bin/python3 - "$1" "$D" <<'PY'
import json, re, sys
path, dom = sys.argv[1], sys.argv[2]
lines = open(path).read().split("\n")
assert lines[-1] == "", "the stream does not end with a newline"
ev = [json.loads(l) for l in lines[:-1]]          # every line parses
assert ev, "no events"
for i, e in enumerate(ev):
    assert e["seq"] == i + 1, ("seq", i, e)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e["time"]), e
    assert e["domain"] == dom, e
    assert isinstance(e["type"], str)
assert ev[0]["type"] == "started" and ev[-1]["type"] == "report", (ev[0]["type"], ev[-1]["type"])
open_step, last_index, phase, done = None, 0, None, 0
for e in ev:
    t = e["type"]
    if t == "step-started":
        assert open_step is None, ("nested step", e)
        assert e["index"] == last_index + 1, ("step order", e)
        open_step = e
    elif t == "step-ended":
        assert open_step and open_step["step"] == e["step"] and open_step["index"] == e["index"], ("unpaired", e)
        assert e["duration_s"] >= 0 and e["result"] in ("ok", "failed"), e
        assert (e["result"] == "failed") == ("error" in e), e
        last_index, open_step = e["index"], None
    elif t == "phase-started":
        phase, done = e["phase"], 0
    elif t == "progress":
        assert e["phase"] == phase, e
        assert e["done"] >= done, ("progress went back", e)
        assert e["rate_bps"] >= 0, e
        done = e["done"]
        final = e
    elif t == "phase-ended":
        assert final["final"] is True and final["phase"] == e["phase"], (final, e)
        phase = None
assert open_step is None, ("a step never ended", open_step)
print(" ".join(e["type"] for e in ev))
PY
}
# ev FILE EXPR: a python expression over ev (the events).
ev() { /usr/bin/python3 -c 'import json,sys; ev=[json.loads(l) for l in open(sys.argv[1])]; print(eval(sys.argv[2]))' "$1" "$2"; }

# --- a) a read error mid-copy ---------------------------------------------------
note "a) V2R_FAULT=read-error:vdb@9437184 migrate --progress-fd 3"
set +e
V2R_FAULT=read-error:vdb@9437184 "$V2R_BIN" migrate "$D" "${COMMON[@]}" --state-dir "$STATE" --progress-fd 3 \
    3>"$T/a.jsonl" >"$T/a.out" 2>"$T/a.err"
RC=$?
set -e
[ "$RC" = 4 ] || { cat "$T/a.err" >&2; fail "a) exit $RC, expected 4"; }
check_stream "$T/a.jsonl" >/dev/null || fail "a) the stream breaks its rules (above)"
[ "$(ev "$T/a.jsonl" '[e["step"] for e in ev if e["type"]=="step-ended" and e["result"]=="failed"]')" = "['copy']" ] ||
    fail "a) failed steps: $(ev "$T/a.jsonl" '[e["step"] for e in ev if e["type"]=="step-ended" and e["result"]=="failed"]')"
failed=$(ev "$T/a.jsonl" '[e for e in ev if e["type"]=="step-ended" and e["result"]=="failed"][0]["error"]')
[[ $failed == *"vdb.raw at offset"* && $failed == *"Input/output error"* && $failed == *"'exit_code': "* ]] || fail "a) the failed step's error: $failed"
[ "$(ev "$T/a.jsonl" '[e["result"] for e in ev if e["type"]=="step-ended" and e["step"]=="undo"]')" = "['ok']" ] ||
    fail "a) no undo step that ended ok"
[ "$(ev "$T/a.jsonl" 'ev[-1]["exit_code"]')" = 4 ] || fail "a) report exit code $(ev "$T/a.jsonl" 'ev[-1]["exit_code"]')"
[[ $(ev "$T/a.jsonl" 'ev[-1]["summary"]["error"]["message"]') == *"migration of $D failed"* ]] ||
    fail "a) the report has not the error"
grep -Eq '^  \[6/8\] copy and verify 2 disks \.\.\. failed \([0-9.]+ s\): ' "$T/a.err" ||
    { cat "$T/a.err" >&2; fail "a) no failed step line on stderr"; }
log="$STATE/domains/$uuid/log"
grep -q "result: failed (exit 4)" "$log" || fail "a) the log has no failed result"

# --- b) the migration -------------------------------------------------------------
note "b) migrate --progress-fd 3 --log-file"
set +e
"$V2R_BIN" migrate "$D" "${COMMON[@]}" --state-dir "$STATE" --progress-fd 3 --log-file "$T/extra.log" \
    3>"$T/b.jsonl" >"$T/b.out" 2>"$T/b.err"
RC=$?
set -e
[ "$RC" = 0 ] || { cat "$T/b.err" >&2; fail "b) exit $RC"; }
types=$(check_stream "$T/b.jsonl") || fail "b) the stream breaks its rules (above)"
echo "b) events: $(wc -l <"$T/b.jsonl"); types: $(tr ' ' '\n' <<<"$types" | sort | uniq -c | tr -s ' \n' ' ')"
steps=$(ev "$T/b.jsonl" '" ".join(e["step"] for e in ev if e["type"]=="step-ended" and e["result"]=="ok")')
[ "$steps" = "stop guard user secret save-definition copy snapshot switch" ] || fail "b) steps: $steps"
[ "$(ev "$T/b.jsonl" '[e["count"] for e in ev if e["type"]=="step-started"][-1]')" = 8 ] || fail "b) step count"
for phase in copy verify; do
    last=$(ev "$T/b.jsonl" "[(e['done'], e['total'], e['data'], e['zeros']) for e in ev if e['type']=='progress' and e['phase']=='$phase'][-1]")
    read -r d t da z < <(tr -d '(),' <<<"$last")
    [ "$d" = "$t" ] || fail "b) $phase progress ends at $d of $t"
    # (how verify counts is the progress printer's business: only copy's is pinned here)
    [ "$phase" = verify ] && continue
    [ "$da" -ge $((6 << 20)) ] || fail "b) $phase: data $da, expected >= 6 MiB"
    [ "$t" = $((48 << 20)) ] || fail "b) $phase total $t, expected 48 MiB"
    [ $((da + z)) = "$d" ] || fail "b) $phase: data $da + zeros $z != done $d"
done
[ "$(ev "$T/b.jsonl" 'sum(1 for e in ev if e["type"]=="plan")')" = 1 ] || fail "b) not one plan event"
run_v2r status "$D" --state-dir "$STATE" --format json
expect_rc 0
/usr/bin/python3 - "$T/b.jsonl" "$T/out" <<'PY' || fail "b) the report's migration is not status's"
import json, sys
rep = [json.loads(l) for l in open(sys.argv[1])][-1]
st = json.load(open(sys.argv[2]))["migrations"][0]
assert rep["exit_code"] == 0 and "error" not in rep["summary"], rep
m = rep["summary"]["migration"]
for k in ("domain", "uuid", "phase", "pool", "user", "secret_uuid", "completed_at"):
    assert m[k] == st[k], (k, m[k], st[k])
assert [(d["target"], d["digest"], d["bytes_copied"]) for d in m["disks"]] == \
       [(d["target"], d["digest"], d["bytes_copied"]) for d in st["disks"]]
sp = rep["summary"]["space"]
assert sp["data_written"] == sum(d["bytes_copied"] for d in m["disks"]) and sp["rbd_used"] >= sp["data_written"], sp
PY
# The terminal: the plan once, first; a line per step; the summary.
[ "$(grep -c '^Plan for domain' "$T/b.out")" = 1 ] || fail "b) the plan is not printed once"
grep -q "Domain XML diff:" "$T/b.out" || fail "b) the plan has no diff"
[ "$(grep -cE '^  \[[1-8]/8\] .* \.\.\. ok \([0-9.]+ s\)$' "$T/b.err")" = 8 ] ||
    { cat "$T/b.err" >&2; fail "b) not 8 step lines ending ok"; }
grep -Eq '^Data: .* written, .* of zeros skipped .*; RBD space used: ' "$T/b.out" || { cat "$T/b.out" >&2; fail "b) no space summary"; }
grep -Eq ": migrated [0-9]{4}-" "$T/b.out" || fail "b) the state line does not say 'migrated DATE'"
grep -q "migrated, migrated" "$T/b.out" && fail "b) 'migrated, migrated' again"
# The log: 0600, every step, the result; the same in --log-file.
[ "$(stat -c %a "$log")" = 600 ] || fail "b) $log has mode $(stat -c %a "$log")"
for title in "stop the VM" "create cephx user client.$CU" "define the libvirt secret" "save the definition" \
    "copy and verify 2 disks" "snapshot the images" "switch the definition to RBD"; do
    grep -qE "\] $title.*: ok \([0-9.]+ s\)$" "$T/extra.log" || fail "b) --log-file has no '$title: ok'"
    grep -qE "\] $title.*: ok \([0-9.]+ s\)$" "$log" || fail "b) the log has no '$title: ok'"
done
grep -q "result: ok (exit 0): domain $D migrated" "$log" || fail "b) the log has no result"
[ "$(grep -c ' migrate started' "$log")" = 2 ] || fail "b) the log does not hold both runs"

# --- c) rollback -----------------------------------------------------------------
note "c) rollback --remove-images --progress-fd 3"
set +e
"$V2R_BIN" rollback "$D" --state-dir "$STATE" --remove-images --progress-fd 3 3>"$T/c.jsonl" >"$T/c.out" 2>"$T/c.err"
RC=$?
set -e
[ "$RC" = 0 ] || { cat "$T/c.err" >&2; fail "c) rollback exit $RC"; }
check_stream "$T/c.jsonl" >/dev/null || fail "c) the stream breaks its rules (above)"
steps=$(ev "$T/c.jsonl" '" ".join(e["step"] for e in ev if e["type"]=="step-ended" and e["result"]=="ok")')
[ "$steps" = "stop restore clean-up" ] || fail "c) rollback steps: $steps"
[[ $(ev "$T/c.jsonl" 'ev[-1]["summary"]["message"]') == *"rolled back"* ]] || fail "c) rollback report"
grep -q "rollback $D: result: ok (exit 0)" "$log" || fail "c) the log has no rollback result"

# --- d) secrets, a closed fd --------------------------------------------------------
note "d) no key anywhere; --progress-fd on a closed fd"
# The user was removed by the rollback: migrate once more (quiet) for a key to look for.
set +e
"$V2R_BIN" migrate "$D" "${COMMON[@]}" --state-dir "$STATE" -q --format json --progress-fd 3 \
    3>"$T/d.jsonl" >"$T/d.out" 2>"$T/d.err"
RC=$?
set -e
[ "$RC" = 0 ] || { cat "$T/d.err" >&2; fail "d) migrate exit $RC"; }
[ ! -s "$T/d.err" ] || { cat "$T/d.err" >&2; fail "d) --quiet printed on stderr"; }
ceph auth get-key "client.$CU" >"$T/key"
no_key() {
    /usr/bin/python3 - "$@" <<'PY'
import base64, binascii, sys
key, files = open(sys.argv[1]).read().strip(), sys.argv[2:]
raw = base64.b64decode(key)
needles = [key.rstrip("=").encode(), raw, raw[12:], binascii.hexlify(raw), binascii.hexlify(raw[12:])]
bad = [p for p in files for n in needles if n in open(p, "rb").read()]
print("key found in: %s" % bad if bad else "key in none of %d files" % len(files))
sys.exit(1 if bad else 0)
PY
}
no_key "$T/key" "$T"/*.jsonl "$T"/*.out "$T"/*.err "$T/extra.log" "$log" || fail "d) the cephx key leaked"
check_stream "$T/d.jsonl" >/dev/null || fail "d) the stream on stdout breaks its rules"
run_v2r rollback "$D" --state-dir "$STATE" --remove-images --progress-fd 9
expect_rc 2
expect_err "progress-fd 9.*not open for writing"
run_v2r status "$D" --state-dir "$STATE" --format json
[ "$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["migrations"][0]["phase"])' "$T/out")" = migrated ] ||
    fail "d) the refused rollback changed the state"
run_v2r rollback "$D" --state-dir "$STATE" --remove-images -q
expect_rc 0
