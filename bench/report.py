#!/usr/bin/python3
"""Samples and report of bench/run (stdlib only).

  report.py sample KEY=VALUE...     one JSON line for one measured run, on stdout. Keys: ds form
                                    tool run rc load src img, and the files time= (/usr/bin/time
                                    -f '%e %U %S %M'), out= (the tool's stdout), du= (rbd du
                                    --format json, one document per line)
  report.py brief                   a JSON sample line on stdin -> one human line
  report.py compare JSON           the before/after table (markdown) of a run with --bin-base,
                                    from its .json
  report.py render --samples F --datasets F --meta F --notes F --out MD --json JSON
"""
import argparse
import json
import os
import re
import statistics
import sys

MiB = 1 << 20
PEERS = ["rbd-import", "qemu-img", "qemu-img-W"]
TOOL_ORDER = ["v2r", "v2r-full", "base-v2r", "base-v2r-full", "rbd-import", "qemu-img", "qemu-img-W", "ceil-write", "ceil-rbd-read", "ceil-read"]
TOOL_LABEL = {
    "v2r": "virt2rbd copy --verify none",
    "v2r-full": "virt2rbd copy --verify full",
    "base-v2r": "base binary (--bin-base): copy --verify none",
    "base-v2r-full": "base binary (--bin-base): copy --verify full",
    "rbd-import": "rbd import",
    "qemu-img": "qemu-img convert",
    "qemu-img-W": "qemu-img convert -W -m 16",
    "ceil-write": "ceiling: rbd bench write",
    "ceil-rbd-read": "ceiling: rbd bench read (cluster)",
    "ceil-read": "ceiling: O_DIRECT read",
}
DATASET_ORDER = ["mixed", "dense", "sparse", "fs", "odd", "huge", "dense100m"]


# ------------------------------------------------------------------------------------------------
def parse_time(path):
    """Last line of /usr/bin/time -f '%e %U %S %M'."""
    try:
        lines = [l for l in open(path).read().splitlines() if l.strip()]
    except OSError:
        return {}
    for line in reversed(lines):
        parts = line.split()
        if len(parts) == 4:
            try:
                e, u, s, m = float(parts[0]), float(parts[1]), float(parts[2]), int(parts[3])
            except ValueError:
                continue
            return {"seconds": e, "user": u, "sys": s, "cpu": round(u + s, 2), "maxrss_kib": m}
    return {}


def parse_out(tool, path):
    try:
        text = open(path).read()
    except OSError:
        return {}
    if tool in ("ceil-write", "ceil-rbd-read"):
        # "elapsed: 13   ops: 512   ops/sec: 38.9   bytes/sec: 156 MiB/s"
        m = re.search(r"elapsed:\s*([\d.]+)\s+ops:\s*(\d+)\s+ops/sec:\s*([\d.]+)\s+bytes/sec:\s*([\d.]+)\s*(\w+)/s",
                      text)
        if m:
            unit = {"B": 1, "KiB": 1 << 10, "MiB": MiB, "GiB": 1 << 30}.get(m.group(5), 1)
            return {"bench_elapsed": float(m.group(1)), "bench_ops": int(m.group(2)),
                    "bench_bytes_per_s": float(m.group(4)) * unit}
        return {}
    text = text.strip()
    if not text.startswith("{"):
        return {}
    try:
        doc = json.loads(text)
    except ValueError:
        return {}
    if "migration" in doc:
        disks = doc["migration"].get("disks", [])
        return {"disks": len(disks),
                "copy_seconds": max((d.get("seconds", 0) for d in disks), default=0),
                "disk_seconds": [d.get("seconds", 0) for d in disks],
                "bytes_copied": sum(d.get("bytes_copied", 0) for d in disks),
                "bytes_zero": sum(d.get("bytes_zero", 0) for d in disks),
                "size": sum(d.get("size", 0) for d in disks),
                "verified": all(d.get("verified", False) for d in disks)}
    if "seconds" in doc:
        return {"copy_seconds": doc.get("seconds"), "verify_seconds": doc.get("verify_seconds"),
                "bytes_copied": doc.get("bytes_copied"), "bytes_zero": doc.get("bytes_zero"),
                "size": doc.get("size"), "verified": doc.get("verified")}
    return {}


def parse_du(path):
    used = prov = 0
    n = 0
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return {}
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        # with a snapshot (migrate's rollback point) the head only counts what changed since: add
        # every entry of the image.
        for img in doc.get("images", []):
            used += img.get("used_size", 0)
            prov += img.get("provisioned_size", 0)
            n += 1
    return {"used_bytes": used, "provisioned_bytes": prov} if n else {}


def cmd_sample(args):
    kv = dict(a.split("=", 1) for a in args)
    s = {"dataset": kv.get("ds"), "form": kv.get("form"), "tool": kv.get("tool"),
         "run": int(kv.get("run", 0)), "rc": int(kv.get("rc", 0)), "load1": float(kv.get("load", 0))}
    s.update(parse_time(kv.get("time", "")))
    s.update(parse_out(s["tool"], kv.get("out", "")))
    s.update(parse_du(kv.get("du", "")))
    print(json.dumps(s, sort_keys=True))


def fmt_bytes(n):
    if n is None:
        return "-"
    for unit, div in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", MiB), ("KiB", 1024)):
        if n >= div:
            return "%.2f %s" % (n / div, unit) if n / div < 10 else "%.1f %s" % (n / div, unit)
    return "%d B" % n


def cmd_brief():
    for line in sys.stdin:
        s = json.loads(line)
        extra = ""
        if s.get("copy_seconds") is not None:
            extra += " (copy %.2f s" % s["copy_seconds"]
            if s.get("verify_seconds"):
                extra += ", verify %.2f s" % s["verify_seconds"]
            extra += ")"
        print("  %-11s run %d: %6.2f s%s, cpu %.1f s, rss %d MiB, used %s%s" % (
            s["tool"], s["run"], s.get("seconds", -1), extra, s.get("cpu", -1),
            s.get("maxrss_kib", 0) // 1024, fmt_bytes(s.get("used_bytes")),
            "" if s["rc"] == 0 else "  FAILED rc=%d" % s["rc"]))


# ------------------------------------------------------------------------------------------------
class Group:
    def __init__(self, samples):
        self.all = samples
        self.ok = [s for s in samples if s["rc"] == 0 and "seconds" in s]
        self.failed = len(samples) - len(self.ok)

    def med(self, key="seconds"):
        v = [s[key] for s in self.ok if s.get(key) is not None]
        return statistics.median(v) if v else None

    def min(self, key="seconds"):
        v = [s[key] for s in self.ok if s.get(key) is not None]
        return min(v) if v else None

    def max(self, key="seconds"):
        v = [s[key] for s in self.ok if s.get(key) is not None]
        return max(v) if v else None


def render(args):
    samples = [json.loads(l) for l in open(args.samples) if l.strip()]
    datasets = {}
    for l in open(args.datasets):
        if l.strip():
            d = json.loads(l)
            datasets[d["dataset"]] = d
    meta = json.load(open(args.meta))
    groups = {}
    for s in samples:
        groups.setdefault((s["dataset"], s["form"], s["tool"]), []).append(s)
    G = {k: Group(v) for k, v in groups.items()}

    def g(ds, form, tool):
        return G.get((ds, form, tool))

    def med(ds, form, tool, key="seconds"):
        x = g(ds, form, tool)
        return x.med(key) if x else None

    def best_peer(ds, form):
        cands = [(med(ds, form, p), p) for p in PEERS if med(ds, form, p) is not None]
        return min(cands) if cands else (None, None)

    def ceil_write(ds):
        return med(ds, "file", "ceil-write")

    out = []
    w = out.append
    w("# Benchmarks")
    w("")
    w("Generated by `%s` on %s (%s scale, %d run(s) of each tool on each dataset, alternating "
      "A B C A B C ...; medians). Raw samples: [%s](%s). Numbers from one machine and one lab "
      "cluster drift between runs: read the **ratios** (every tool and ceiling measured side by "
      "side, in one rotation), not the absolute seconds." % (
          meta["command"], meta.get("finished", "?"), meta["scale"], meta["runs"],
          os.path.basename(args.json), os.path.basename(args.json)))
    w("")
    w("Reproduce (as root, on a machine with the packages of `scripts/install-deps` and a built "
      "binary): `bench/run` (full scale, 3 runs, its own lab; about %d min here, `--no-tuning` saves "
      "about 5) or `bench/run --scale small --runs 1` (a few minutes). `bench/run --help` lists the "
      "options; `bench/` holds the driver, the dataset generator and this report's generator." % (
          max(1, round(meta.get("seconds", 0) / 60)) if meta["scale"] == "full" else 40))
    w("")

    # --- targets ---------------------------------------------------------------------------------
    targets = []

    def target(name, ok, text):
        targets.append((name, ok, text))

    def ratio_str(x):
        return "%.2fx" % x if x is not None else "-"

    for ds in ("mixed", "fs"):
        for form in ("file", "loop"):
            v, (bp, bpn) = med(ds, form, "v2r"), best_peer(ds, form)
            if v is None or bp is None:
                continue
            r = bp / v
            text = "%s %s: virt2rbd %.2f s, best peer %s %.2f s: **%.2fx**" % (ds, form, v, bpn, bp, r)
            if r < 1.25:
                cw, cr = ceil_write(ds), med(ds, form, "ceil-read")
                lim = []
                if cw:
                    lim.append("the cluster's write ceiling for its %s of data is %.2f s, so no tool can be "
                               "more than %.2fx faster than %s" % (fmt_bytes(datasets[ds]["data"]), cw, bp / cw, bpn))
                if cr:
                    lim.append("reading the source takes %.2f s (%.2fx)" % (cr, bp / cr))
                text += "; " + "; ".join(lim)
            target("%s, %s: >= 1.25x the best peer" % (ds, form), r >= 1.25, text)
    for form in ("file", "loop"):
        v, (bp, bpn), cw = med("dense", form, "v2r"), best_peer("dense", form), ceil_write("dense")
        if v is None or bp is None:
            continue
        r = bp / v
        ok = r >= 1.1 or (cw is not None and v <= 1.1 * cw)
        text = "dense %s: virt2rbd %.2f s, best peer %s %.2f s: **%.2fx**; write ceiling %.2f s: virt2rbd at " \
               "**%.0f%%** of it (within 10%%: %s)" % (form, v, bpn, bp, r, cw or 0, 100 * (cw or 0) / v,
                                                      "yes" if cw and v <= 1.1 * cw else "no")
        if not ok and cw:
            text += "; the best peer is at %.0f%% of the ceiling itself, so 1.1x faster than it would be %.0f%% " \
                    "of the ceiling" % (100 * cw / bp, 110 * cw / bp)
        target("dense, %s: >= 1.1x the best peer, or within 10%% of the write ceiling" % form, ok, text)
    h, d = med("huge", "file", "v2r"), med("dense100m", "file", "v2r")
    if h is not None and d is not None:
        target("1 TiB raw file with 100 MiB of data: at most 2 s more than 100 MiB dense", h - d <= 2,
               "huge %.2f s, dense100m %.2f s: **%+.2f s**" % (h, d, h - d))
    # The rate while scanning: the engine's own copy time (virt2rbd's "seconds", without connecting
    # and creating the image) against dd's wall time.
    for ds in ("sparse", "mixed", "fs", "odd"):
        v, vw, cr = med(ds, "loop", "v2r", "copy_seconds"), med(ds, "loop", "v2r"), med(ds, "loop", "ceil-read")
        if v is None or cr is None:
            continue
        pct = 100 * cr / v
        note = ""
        if ds != "sparse":
            cw = ceil_write(ds)
            note = " (this one also writes %s: write ceiling %.2f s)" % (fmt_bytes(datasets[ds]["data"]), cw or 0)
        elif pct < 90:
            note = "; CPU-bound: see *Where the time goes*"
        target("block device (%s, loop): >= 90%% of the source read ceiling while it scans zeros" % ds,
               pct >= 90 if ds == "sparse" else None,
               "O_DIRECT read of the device %.2f s, virt2rbd's copy %.2f s (%.2f s with connecting and creating "
               "the image): **%.0f%%**%s" % (cr, v, vw, pct, note))
    worst = None
    rows = []
    for (ds, form, tool), grp in sorted(G.items()):
        if tool != "v2r":
            continue
        imp = g(ds, form, "rbd-import")
        vu, iu = grp.max("used_bytes"), imp.min("used_bytes") if imp else None
        if vu is None or iu is None:
            continue
        rows.append("%s/%s %s vs %s" % (ds, form, fmt_bytes(vu), fmt_bytes(iu)))
        if worst is None or vu - iu > worst[0]:
            worst = (vu - iu, ds, form, vu, iu)
    if worst:
        target("RBD space used never exceeds what rbd import leaves", worst[0] <= 0,
               "virt2rbd vs rbd import, used: " + "; ".join(rows))
    rss = [(s.get("maxrss_kib", 0), s["dataset"], s["form"], s["tool"]) for s in samples
           if s["rc"] == 0 and "nocache" not in s["tool"] and
           (s["tool"] in ("v2r", "v2r-full", "copy1", "copy1-full") or
            s["tool"].startswith("mig") or s["tool"].startswith("bw"))]
    if rss:
        m = max(rss)
        copy_rss = max((r for r in rss if r[3] in ("v2r", "v2r-full", "copy1", "copy1-full")), default=None)
        mig_rss = max((r for r in rss if r[3].startswith("mig") or r[3].startswith("bw")), default=None)
        text = "highest peak RSS with default options: **%d MiB** (%s/%s, %s)" % (m[0] // 1024, m[1], m[2], m[3])
        if copy_rss:
            text += "; `copy`: %d MiB (%s/%s, %s)" % (copy_rss[0] // 1024, copy_rss[1], copy_rss[2], copy_rss[3])
        if mig_rss:
            text += "; `migrate`: %d MiB (%s)" % (mig_rss[0] // 1024, mig_rss[3])
        nc = g("vm", "loop", "mig4-nocache")
        if m[0] > 256 * 1024 and nc and nc.max("maxrss_kib"):
            text += "; the same 4-disk migration with the librbd cache off (`CEPH_ARGS=--rbd_cache=false`): %d MiB" \
                    % (nc.max("maxrss_kib") // 1024)
        target("peak RSS <= 256 MiB by default", m[0] <= 256 * 1024, text)
    m4, c1, m1 = med("vm", "loop", "mig4"), med("vm", "loop", "copy1"), med("vm", "loop", "mig1")
    if m4 and c1:
        text = "migrate of 4 disks %.2f s vs copy of the same bytes in one disk %.2f s: **%.2fx**" % (m4, c1, m4 / c1)
        if m1:
            text += "; vs migrate of a one-disk VM holding them %.2f s: %.2fx" % (m1, m4 / m1)
        m4c, m1c = med("vm", "loop", "mig4", "copy_seconds"), med("vm", "loop", "copy1", "copy_seconds")
        if m4c and m1c:
            text += "; copy phase alone (slowest disk) %.2f s vs %.2f s: %.2fx" % (m4c, m1c, m4c / m1c)
        m4f, c1f = med("vm", "loop", "mig4-full"), med("vm", "loop", "copy1-full")
        if m4f and c1f:
            text += "; with --verify full %.2f s vs %.2f s: %.2fx" % (m4f, c1f, m4f / c1f)
        target("four-disk VM <= 1.1x the time of its bytes in one disk", m4 / c1 <= 1.1, text)
    bw = [s for s in samples if s["tool"].startswith("bw") and s["rc"] == 0]
    if bw:
        lim = meta.get("bw_limit_mib", 50)
        s = bw[0]
        rate = s["size"] / s["copy_seconds"] / MiB if s.get("copy_seconds") else 0
        target("--bandwidth within 10% of the limit", abs(rate - lim) <= 0.1 * lim,
               "`virt2rbd migrate --bandwidth %d` of %s of random data: copy %.2f s, **%.1f MiB/s** (%+.1f%%); "
               "`virt2rbd copy` has no --bandwidth option" % (
                   lim, fmt_bytes(s["size"]), s["copy_seconds"], rate, 100 * (rate - lim) / lim))
    # Verification reads the image back while the copy runs (a range once it
    # is flushed): its cost is the wall time it adds, --verify full against
    # --verify none, medians of the same rotation.
    vrows = []
    vworst = None
    for (ds, form, tool), grp in sorted(G.items()):
        if tool != "v2r-full" or ds.startswith("tune"):
            continue
        wall, wf = med(ds, form, "v2r"), grp.med()
        if not wall or wf is None:
            continue
        r = (wf - wall) / wall
        after = grp.med("verify_seconds")
        vrows.append("%s/%s %+.0f%% (%.2f s vs %.2f s%s)" % (
            ds, form, 100 * r, wf, wall, ", %.2f s of it after the copy" % after if after is not None else ""))
        if vworst is None or r > vworst[0]:
            vworst = (r, ds, form)
    if vworst:
        text = ("wall time `--verify full` adds to `--verify none` (medians; the read-back follows the copy, "
                "a range once flushed): " + "; ".join(vrows))
        reads = []
        for ds in DATASET_ORDER:
            rr, cc = med(ds, "file", "ceil-rbd-read"), med(ds, "file", "v2r")
            if rr and cc:
                reads.append("%s %.2f s = %.0f%%" % (ds, rr, 100 * rr / cc))
        if reads:
            text += ". Reading the data back alone at the cluster's best (`rbd bench --io-type read`, 16 " \
                    "threads), as a share of the copy's wall time: " + "; ".join(reads)
        target("verification costs at most 60% of copy time", vworst[0] <= 0.6, text)

    w("## Targets")
    w("")
    w("| | Target | Measured |")
    w("|---|---|---|")
    for name, ok, text in targets:
        mark = "met" if ok else ("**not met**" if ok is not None else "info")
        w("| %s | %s | %s |" % (mark, name, text))
    w("")

    # --- main table ------------------------------------------------------------------------------
    w("## Results")
    w("")
    w("Seconds are wall time of the whole command (connect, create, copy, close; `virt2rbd` also "
      "its summary) as `/usr/bin/time` sees it, median of the runs, with the range and the number "
      "of runs. MiB/s is the "
      "dataset's data (non-zero 4 KiB blocks) per second. *vs best peer*: the best peer's median "
      "divided by this one (above 1: faster). RBD used: `rbd du` of the image right after the copy "
      "(object map: whole 4 MiB objects). Peak RSS and CPU seconds (user + system, all threads) "
      "from `/usr/bin/time`.")
    w("")
    dss = [d for d in DATASET_ORDER if d in datasets]
    for ds in dss:
        d = datasets[ds]
        w("### %s — %s virtual, %s of data" % (ds, fmt_bytes(d["size"]), fmt_bytes(d["data"])))
        w("")
        w(d["description"] + ".")
        w("")
        w("| Source | Tool | Seconds | Range | MiB/s of data | vs best peer | RBD used | Peak RSS | CPU s |")
        w("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for form in ("file", "loop"):
            bp, _ = best_peer(ds, form)
            for tool in TOOL_ORDER:
                grp = g(ds, form, tool)
                if not grp:
                    continue
                m = grp.med()
                if m is None:
                    w("| %s | %s | failed (%d) | | | | | | |" % (form, TOOL_LABEL.get(tool, tool), grp.failed))
                    continue
                rate = d["data"] / m / MiB if m > 0 else 0
                extra = ""
                if tool == "v2r-full":
                    vs = grp.med("verify_seconds")
                    extra = " (verify %.2f)" % vs if vs is not None else ""
                used = grp.max("used_bytes")
                bold = "**" if tool == "v2r" else ""
                w("| %s | %s | %s%.2f%s%s | %.2f–%.2f (%d) | %.0f | %s | %s | %s | %s |" % (
                    "file" if form == "file" else "loop device", TOOL_LABEL.get(tool, tool),
                    bold, m, bold, extra, grp.min(), grp.max(), len(grp.ok), rate,
                    ("%s%.2fx%s" % (bold, bp / m, bold)) if bp else "-",
                    fmt_bytes(used) if used is not None else "-",
                    "%d MiB" % (grp.max("maxrss_kib") // 1024) if grp.max("maxrss_kib") else "-",
                    "%.1f" % grp.med("cpu") if grp.med("cpu") is not None else "-") +
                  (" %d failed |" % grp.failed if grp.failed else ""))
        w("")

    # --- VM ---------------------------------------------------------------------------------------
    vm_tools = [("mig4", "migrate, 4-disk VM, --verify none"), ("mig1", "migrate, 1-disk VM, --verify none"),
                ("copy1", "copy of the one disk, --verify none"), ("mig4-full", "migrate, 4-disk VM, --verify full"),
                ("copy1-full", "copy of the one disk, --verify full"),
                ("mig4-nocache", "migrate, 4-disk VM, --verify none, `CEPH_ARGS=--rbd_cache=false` (not a default)")]
    if any(g("vm", "loop", t) for t, _ in vm_tools):
        w("### vm — four disks against the same bytes in one disk")
        w("")
        mixed = datasets.get("mixed")
        w("The mixed dataset cut into four loop devices (vda..vdd) of a shut-off domain, migrated by "
          "`virt2rbd migrate DOMAIN --pool POOL --no-start` (preflight, cephx user, secret, copy, "
          "snapshots, definition switched; rolled back with `--remove-images` after each run), "
          "against the same bytes as one loop device: migrated as a one-disk VM, and copied with "
          "`virt2rbd copy`. *Copy s*: the engine's own time (slowest disk).")
        w("")
        w("| Tool | Seconds | Range | Copy s | MiB/s of data | RBD used | Peak RSS | CPU s |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|")
        for t, label in vm_tools:
            grp = g("vm", "loop", t)
            if not grp or grp.med() is None:
                continue
            m = grp.med()
            w("| %s | %.2f | %.2f–%.2f | %.2f | %.0f | %s | %d MiB | %.1f |" % (
                label, m, grp.min(), grp.max(), grp.med("copy_seconds") or 0,
                (mixed["data"] / m / MiB) if mixed else 0, fmt_bytes(grp.max("used_bytes")),
                grp.max("maxrss_kib") // 1024, grp.med("cpu")))
        w("")

    # --- tuning -----------------------------------------------------------------------------------
    tune = sorted({(k[0], k[1]) for k in G if k[0].startswith("tune")})
    if tune:
        w("### Tuning: virt2rbd with other options")
        w("")
        w("`if N`: `--in-flight N --in-flight-bytes 4N M`; `rd N`: `--readers N`; `cs N`: "
          "`--chunk-size N M`; `zb N`: `--zero-block N K`; everything else default (16 requests, 64 MiB, 2 readers, "
          "4 MiB chunks, 64 KiB zero blocks). Same rotation; at most 2 runs each.")
        w("")
        for ds, form in tune:
            base = med(ds, form, "v2r")
            dname = ds[len("tune-"):]
            data = datasets.get(dname, {}).get("data", 0)
            w("%s, %s:" % (dname, "file" if form == "file" else "loop device"))
            w("")
            w("| Options | Seconds | Range | MiB/s of data | vs default | Peak RSS | CPU s |")
            w("|---|---:|---:|---:|---:|---:|---:|")
            for (d2, f2, t), grp in sorted(G.items(), key=lambda kv: kv[0][2]):
                if (d2, f2) != (ds, form) or grp.med() is None:
                    continue
                m = grp.med()
                label = "default" if t == "v2r" else t[len("v2r-"):]
                if label != "nocache":
                    label = label.replace("if", "if ").replace("rd", "rd ").replace("cs", "cs ").replace("zb", "zb ")
                w("| %s | %.2f | %.2f–%.2f | %.0f | %.2fx | %d MiB | %.1f |" % (
                    label, m, grp.min(), grp.max(), data / m / MiB if data else 0, base / m if base else 0,
                    grp.max("maxrss_kib") // 1024, grp.med("cpu")))
            w("")

    if args.notes and os.path.exists(args.notes):
        w(open(args.notes).read().rstrip())
        w("")

    # --- machine ----------------------------------------------------------------------------------
    w("## Machine and command")
    w("")
    w("- command: `%s` (binary %s%s)" % (meta["command"], meta["binary"],
      ", base binary %s" % meta["binary_base"] if meta.get("binary_base") else ""))
    w("- started %s, finished %s, %d s in all" % (meta.get("started"), meta.get("finished"), meta.get("seconds", 0)))
    w("- %s CPUs (%s), %s GiB RAM, kernel %s" % (meta["nproc"], meta.get("cpu"), meta.get("mem_gib"), meta["kernel"]))
    w("- load average (1, 5, 15 min) before: %s; after: %s; 1-min load at each run: %s" % (
        meta["load_before"], meta.get("load_after"),
        "%.2f to %.2f, median %.2f" % (min(s["load1"] for s in samples), max(s["load1"] for s in samples),
                                        statistics.median(s["load1"] for s in samples)) if samples else "-"))
    w("- %s; cluster: %s" % (meta["ceph_version"], meta.get("ceph_cluster_version", "?").replace("\n", " ")))
    lab = meta["lab"]
    w("- lab: %s mon(s), %s OSD(s) (bluestore on a sparse file%s), pool size 1, on the same host%s" % (
        lab["mons"], lab["osds"], ", %s MiB" % lab["osd_size_mib"] if lab.get("own") else "",
        " (brought up by bench/run)" if lab.get("own") else " (" + lab["dir"] + ")"))
    w("- %s" % meta["qemu_img_version"])
    w("- loop devices attached with `losetup --direct-io=on`; each source dropped from the page cache "
      "(posix_fadvise DONTNEED) before each run")
    fails = [s for s in samples if s["rc"] != 0]
    if fails:
        w("- failed runs: " + ", ".join("%s/%s/%s run %d (exit %d)" % (s["dataset"], s["form"], s["tool"], s["run"], s["rc"])
                                         for s in fails))
    w("")
    open(args.out, "w").write("\n".join(out))

    summary = []
    for (ds, form, tool), grp in sorted(G.items()):
        summary.append({"dataset": ds, "form": form, "tool": tool, "runs": len(grp.all), "failed": grp.failed,
                        "median_seconds": grp.med(), "min_seconds": grp.min(), "max_seconds": grp.max(),
                        "median_cpu": grp.med("cpu"), "max_rss_kib": grp.max("maxrss_kib"),
                        "used_bytes": grp.max("used_bytes"), "median_copy_seconds": grp.med("copy_seconds"),
                        "median_verify_seconds": grp.med("verify_seconds")})
    json.dump({"meta": meta, "datasets": list(datasets.values()),
               "targets": [{"target": n, "met": ok, "measured": t} for n, ok, t in targets],
               "summary": summary, "samples": samples}, open(args.json, "w"), indent=1)


def cmd_compare(path):
    """The before/after table of a run with --bin-base: per dataset and source, the medians of
    both binaries' copy (--verify none and full), their ratios to rbd import and qemu-img convert
    of the same rotation, the after/base ratio and the peak RSS."""
    samples = json.load(open(path))["samples"]

    def vals(ds, form, tool, key="seconds"):
        return [s[key] for s in samples if (s["dataset"], s["form"], s["tool"]) == (ds, form, tool)
                and s["rc"] == 0 and s.get(key) is not None]

    def med(ds, form, tool):
        v = vals(ds, form, tool)
        return statistics.median(v) if v else None

    def ratio(a, b):
        return "%.2f" % (a / b) if a and b else "-"

    print("| Dataset | Source | Binary | copy s (range) | / rbd import | / qemu-img | --verify full s (range) "
          "| / rbd import | / qemu-img | Peak RSS |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    forms = sorted({(s["dataset"], s["form"]) for s in samples if s["tool"] == "base-v2r"},
                   key=lambda k: (DATASET_ORDER.index(k[0]) if k[0] in DATASET_ORDER else 99, k[1]))
    for ds, form in forms:
        ri, qi = med(ds, form, "rbd-import"), med(ds, form, "qemu-img")
        for label, pre in (("base", "base-"), ("after", "")):
            cells = []
            for tool in (pre + "v2r", pre + "v2r-full"):
                m, v = med(ds, form, tool), vals(ds, form, tool)
                cells += ["%.2f (%.2f–%.2f)" % (m, min(v), max(v)) if v else "failed", ratio(m, ri), ratio(m, qi)]
            rss = max(vals(ds, form, pre + "v2r", "maxrss_kib") + vals(ds, form, pre + "v2r-full", "maxrss_kib"),
                      default=0)
            print("| %s | %s | %s | %s | %d MiB |" % (ds, form, label, " | ".join(cells), rss // 1024))
        a, b = med(ds, form, "v2r"), med(ds, form, "base-v2r")
        af, bf = med(ds, form, "v2r-full"), med(ds, form, "base-v2r-full")
        print("| %s | %s | after / base | %s | | | %s | | | |" % (ds, form, ratio(a, b), ratio(af, bf)))
    return 0


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "compare":
        return cmd_compare(sys.argv[2])
    if len(sys.argv) >= 2 and sys.argv[1] == "sample":
        return cmd_sample(sys.argv[2:])
    if len(sys.argv) >= 2 and sys.argv[1] == "brief":
        return cmd_brief()
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["render"])
    ap.add_argument("--samples", required=True)
    ap.add_argument("--datasets", required=True)
    ap.add_argument("--meta", required=True)
    ap.add_argument("--notes")
    ap.add_argument("--out", required=True)
    ap.add_argument("--json", required=True)
    render(ap.parse_args())


if __name__ == "__main__":
    sys.exit(main())
