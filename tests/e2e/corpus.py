#!/usr/bin/env python3
"""The domain-XML corpus harness (issue 12), driven by t_corpus.sh.

For each XML of the corpus: a unique name, no <uuid>, every local disk source
replaced by a small real disk made here (files and qcow2/vmdk/... images with
qemu-img, block devices as loop devices over sparse files), host paths that
must exist (emulator, loader, nvram, kernel, initrd) pointed at real ones;
defined on the lab's libvirtd (or "rejected-by-libvirt"), then `virt2rbd plan`
and, when it would proceed, `virt2rbd migrate --no-start` (the domain stays
shut off: no guest boots). A migration is checked: the new definition
validates with virt-xml-validate (when the original one does), every element
but the moved disks' <source>/<driver> is kept (normalized trees; what plan
lists as dropped may go), and `rollback --remove-images` gives back the
original definition exactly. A refusal must come with its reason (plan and
migrate exit 3, nothing changed). Each outcome is compared with EXPECTED.

Usage: corpus.py CORPUS_DIR  (environment: V2R_BIN, POOL, U, T, CEPH_CONF,
V2R_CORPUS_ONLY, V2R_CORPUS_JOBS)
"""
import concurrent.futures
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

MIB = 1 << 20

# file -> expected outcome: "migrated", "refused:<substring of a refusal>",
# "rejected-by-libvirt:<substring of libvirt's error>" (libvirt 9.0, Debian 12,
# refuses these definitions itself: newer-libvirt or partial snippets).
EXPECTED = {
    "libvirt-bios-nvram.xml": "migrated",
    "libvirt-blkdeviotune-max.xml": "migrated",
    "libvirt-boot-order.x86_64-latest.xml": "migrated",
    "libvirt-disk-backing-chains-index.xml": "migrated",
    "libvirt-disk-blockio.x86_64-latest.xml": "migrated",
    "libvirt-disk-cache.xml": "migrated",
    "libvirt-disk-detect-zeroes.xml": "migrated",
    "libvirt-disk-device-lun-type-invalid.xml": "rejected-by-libvirt:disk device='lun' is only valid for block type disk source",
    "libvirt-disk-floppy.x86_64-latest.xml": "migrated",
    "libvirt-disk-geometry.x86_64-latest.xml": "migrated",
    "libvirt-disk-metadata-cache.x86_64-latest.xml": "migrated",
    "libvirt-disk-mirror.xml": "migrated",
    "libvirt-disk-network-rbd.xml": "refused:cannot be reached",
    "libvirt-disk-order.x86_64-latest.xml": "migrated",
    "libvirt-disk-rotation.xml": "migrated",
    "libvirt-disk-sata-device.xml": "migrated",
    "libvirt-disk-scsi-disk-vpd.x86_64-latest.xml": "migrated",
    "libvirt-disk-scsi-disk-wwn.x86_64-latest.xml": "migrated",
    "libvirt-disk-scsi-lun-passthrough.x86_64-latest.xml": "refused:device='lun'",
    "libvirt-disk-scsi.xml": "rejected-by-libvirt:removable is only valid for usb disks",
    "libvirt-disk-serial.x86_64-latest.xml": "migrated",
    "libvirt-disk-shared.x86_64-latest.xml": "refused:<shareable/>",
    "libvirt-disk-slices.xml": "refused:<encryption>",
    "libvirt-disk-source-pool-mode.x86_64-latest.xml": "migrated",
    "libvirt-disk-source-pool.x86_64-latest.xml": "migrated",
    "libvirt-disk-transient.xml": "refused:<transient/>",
    "libvirt-disk-usb-device.x86_64-latest.xml": "migrated",
    "libvirt-disk-virtio-queues.xml": "migrated",
    "libvirt-disk-virtio-scsi-reservations.xml": "refused:device='lun'",
    "libvirt-encrypted-disk.xml": "refused:<encryption>",
    "libvirt-iothreads-disk.x86_64-latest.xml": "migrated",
    "libvirt-luks-disks.xml": "refused:<encryption>",
    "libvirt-metadata.xml": "migrated",
    "libvirt-pcie-root-port.x86_64-latest.xml": "rejected-by-libvirt:unknown watchdog model 'itco'",
    "libvirt-qemuhotplug-base-live+disk-scsi.xml": "refused:<shareable/>",
    "libvirt-qemuhotplug-base-live+disk-virtio.xml": "refused:<shareable/>",
    "libvirt-seclabel-dynamic-override.xml": "migrated",
    "nova-test_driver-test_device_metadata.xml": "rejected-by-libvirt:expected unicast mac address",
    "nova-test_driver-test_diagnostic_blockstats_exception.xml": "rejected-by-libvirt:Memory size must be specified",
    "nova-test_migration-test_update_volume_xml.xml": "rejected-by-libvirt:Memory size must be specified",
    "nova-test_utils-test_find_disk_block_device.xml": "rejected-by-libvirt:Unknown disk name '/dev/hda'",
    "other-domain_disk_block.xml": "migrated",
    "other-domain_disk_file.xml": "migrated",
    "other-hostedengine.xml": "migrated",
    "other-vm_hibernated.xml": "migrated",
    "virtmanager-bootorder-in.xml": "migrated",
    "virtmanager-convert-to-q35-win10-in.xml": "migrated",
    "virtmanager-convert-to-q35-win10-out.xml": "migrated",
    "virtmanager-virt-install-boot-uefi-oldcaps.xml": "migrated",
    "virtmanager-virt-install-many-devices.xml": "rejected-by-libvirt:must be model='pcie-root'",
    "virtmanager-virt-install-storage-creation.xml": "rejected-by-libvirt:IDE controllers are unsupported",
}

V2R = os.environ["V2R_BIN"]
POOL = os.environ["POOL"]
PREFIX = os.environ["U"]
TMP = os.environ["T"]
EMULATOR = shutil.which("qemu-system-x86_64") or "/usr/bin/qemu-system-x86_64"
VALIDATE = shutil.which("virt-xml-validate")
MACHINES = {ln.split()[0] for ln in subprocess.run([EMULATOR, "-machine", "help"], capture_output=True,
                                                  text=True).stdout.splitlines()[1:] if ln.strip()}
IMAGE_EXT = {"raw": "img", "qcow2": "qcow2", "qcow": "qcow", "vmdk": "vmdk", "vdi": "vdi", "vhdx": "vhdx",
             "vpc": "vhd", "qed": "qed"}


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def virsh(*args):
    return run(["virsh", "-q"] + list(args))


def dumpxml(name):
    r = virsh("dumpxml", "--inactive", "--security-info", name)
    if r.returncode != 0:
        raise RuntimeError(f"virsh dumpxml {name}: {r.stderr.strip()}")
    return r.stdout


def namespaces(path):
    ns = {}
    for _, (prefix, uri) in ET.iterparse(path, events=["start-ns"]):
        ns.setdefault(prefix, uri)
    return ns


class Case:
    def __init__(self, index, path):
        self.file = os.path.basename(path)
        self.path = path
        self.name = f"{PREFIX}c{index:02d}"
        self.dir = os.path.join(TMP, self.name)
        self.state = os.path.join(self.dir, "state")
        # A cephx user (and libvirt secret) per domain: one shared by
        # migrations running at once is removed by the first rollback while
        # another has not switched yet (no domain refers to it then).
        self.user = self.name + "u"
        self.loops = []
        self.pools = []
        self.log = []

    def say(self, msg):
        self.log.append(msg)

    # -- the small real disks -------------------------------------------------
    def make_image(self, fmt, size, data=True):
        n = len(os.listdir(self.dir))
        f = os.path.join(self.dir, f"d{n}.{IMAGE_EXT.get(fmt, fmt)}")
        if fmt == "raw":
            with open(f, "wb") as out:
                if data:
                    out.write(os.urandom(64 << 10))
                out.truncate(size)
        else:
            r = run(["qemu-img", "create", "-q", "-f", fmt, f, str(size)])
            if r.returncode != 0:
                raise RuntimeError(f"qemu-img create -f {fmt}: {r.stderr.strip()}")
            if data:
                run(["qemu-io", "-f", fmt, "-c", "write -P 0x5a 0 64k", "-c", "write -P 0xa5 1M 64k", f])
        os.chmod(f, 0o644)
        return f

    def loop(self, f):
        r = run(["losetup", "-f", "--show", f])
        if r.returncode != 0:
            raise RuntimeError(f"losetup {f}: {r.stderr.strip()}")
        dev = r.stdout.strip()
        self.loops.append(dev)
        return dev

    def prepare(self):
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)
        ns = namespaces(self.path)
        for prefix, uri in ns.items():
            if prefix and not re.match(r"ns\d+$", prefix):
                ET.register_namespace(prefix, uri)
        tree = ET.parse(self.path)
        root = tree.getroot()
        root.attrib.pop("id", None)
        name = root.find("name")
        if name is None:
            name = ET.SubElement(root, "name")
        name.text = self.name
        for u in root.findall("uuid"):
            root.remove(u)
        # libvirt takes a missing <uuid> from <sysinfo>'s: drop that too, or
        # two files of one VM (oVirt's) would be one domain.
        for si in root.findall("sysinfo"):
            for system in si.findall("system"):
                for entry in system.findall("entry"):
                    if entry.get("name") == "uuid":
                        system.remove(entry)
        for e in root.iter("emulator"):
            e.text = EMULATOR
        # Partial snippets (nova's) lack what every definition needs.
        if not root.get("type"):
            root.set("type", "kvm")
            self.say("no domain type: kvm given")
        osel = root.find("os")
        if osel is None:
            osel = ET.SubElement(root, "os")
            ET.SubElement(osel, "type").text = "hvm"
            self.say("no <os>: <os><type>hvm</type></os> given")
        ostype = osel.find("type")
        if ostype is not None:
            machine = ostype.get("machine")
            if machine and machine not in MACHINES:
                ostype.set("machine", "q35" if "q35" in machine else "pc")
                self.say(f"machine {machine}: not in this qemu, {ostype.get('machine')} given")
        if True:
            for tag in ("kernel", "initrd", "dtb"):
                for e in osel.findall(tag):
                    e.text = self.make_image("raw", 4096, data=False)
            for e in osel.findall("loader"):
                if e.text and not os.path.exists(e.text.strip()):
                    e.text = self.make_image("raw", 64 << 10, data=False)
            for e in osel.findall("nvram"):
                if e.text:
                    e.text = os.path.join(self.dir, "nvram.fd")
        devices = root.find("devices")
        for disk in devices.findall("disk") if devices is not None else []:
            self.prepare_disk(disk)
        self.input = os.path.join(self.dir, "input.xml")
        tree.write(self.input, encoding="unicode")

    def prepare_disk(self, disk):
        dtype = disk.get("type", "file")
        src = disk.find("source")
        driver = disk.find("driver")
        fmt = (driver.get("type") if driver is not None else None) or "raw"
        # The chain a definition describes is the old disk's: the small disk
        # made here has none.
        for parent in [disk] + list(disk.iter()):
            for b in parent.findall("backingStore"):
                parent.remove(b)
        if src is not None and dtype == "volume" and disk.get("device", "disk") == "disk":
            return self.prepare_volume(src, fmt)
        if src is None or dtype not in ("file", "block"):
            return
        attr = "file" if dtype == "file" else "dev"
        if not src.get(attr):
            return
        size = 8 * MIB
        for s in src.iter("slice"):
            size = max(size, int(s.get("offset", "0")) + int(s.get("size", "0")))
        size = (size + MIB - 1) // MIB * MIB
        if fmt not in IMAGE_EXT:
            fmt = "raw"
        f = self.make_image(fmt, size, data=disk.get("device", "disk") != "cdrom")
        src.set(attr, f if dtype == "file" else self.loop(f))

    def prepare_volume(self, src, fmt):
        """A dir pool of this case's own (its name prefixed) holding the volume, in the format the
        definition gives (raw when it gives none or one qemu-img does not make)."""
        pool, vol = src.get("pool"), src.get("volume")
        if not pool or not vol:
            return
        mine = f"{self.name}-{re.sub(r'[^A-Za-z0-9_.-]', '_', pool)}"
        target = os.path.join(self.dir, "pool-" + mine)
        if mine not in self.pools:
            os.makedirs(target)
            os.chmod(target, 0o755)
            for cmd in (["pool-define-as", mine, "dir", "--target", target], ["pool-start", mine]):
                r = virsh(*cmd)
                if r.returncode != 0:
                    raise RuntimeError(f"virsh {' '.join(cmd)}: {r.stderr.strip()}")
            self.pools.append(mine)
        f = self.make_image(fmt if fmt in IMAGE_EXT else "raw", 8 * MIB)
        os.rename(f, os.path.join(target, vol))
        virsh("pool-refresh", mine)
        src.set("pool", mine)
        self.say(f"volume {pool}/{vol}: made in dir pool {mine}")

    # -- one run --------------------------------------------------------------
    def v2r(self, *args):
        return run([V2R] + list(args) + ["--state-dir", self.state])

    def result(self):
        try:
            return self.work()
        except Exception as e:  # the harness's own failure: reported, never hidden
            return "harness-error", f"{type(e).__name__}: {e}"
        finally:
            self.cleanup()

    def work(self):
        self.prepare()
        r = virsh("define", self.input)
        if r.returncode != 0:
            return "rejected-by-libvirt", r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "?"
        before = dumpxml(self.name)
        # virt2rbd starts from libvirt's own definition: when libvirt's
        # formatting is not a fixed point (it renumbers a console's port on
        # a second define), settle it once first, so that only what
        # virt2rbd changes is compared.
        with open(os.path.join(self.dir, "settle.xml"), "w") as f:
            f.write(before)
        r = virsh("define", os.path.join(self.dir, "settle.xml"))
        if r.returncode != 0:
            return "failed", f"libvirt refuses its own definition again: {r.stderr.strip()[-300:]}"
        settled = dumpxml(self.name)
        if settled != before:
            self.say("libvirt's definition changed on a second define (settled once before the run)")
            before = settled
        plan = self.v2r("plan", self.name, "--pool", POOL, "--client-user", self.user, "--format", "json")
        if plan.returncode not in (0, 3):
            return "failed", f"plan exit {plan.returncode}: {plan.stderr.strip()[-400:]}"
        p = json.loads(plan.stdout)
        if plan.returncode == 3:
            if not p["refusals"]:
                return "failed", "plan exit 3 without a reason"
            why = "; ".join(p["refusals"])
            m = self.v2r("migrate", self.name, "--pool", POOL, "--client-user", self.user, "--no-start")
            if m.returncode != 3:
                return "failed", f"plan refused ({why}) but migrate exit {m.returncode}: {m.stderr.strip()[-400:]}"
            if dumpxml(self.name) != before:
                return "failed", "a refused migrate changed the definition"
            return "refused", why
        moved = {d["target"] for d in p["disks"] if d["decision"] == "moves"}
        m = self.v2r("migrate", self.name, "--pool", POOL, "--client-user", self.user, "--no-start")
        if m.returncode != 0:
            return "failed", f"migrate exit {m.returncode}: {m.stderr.strip()[-600:]}"
        after = dumpxml(self.name)
        problems = compare(before, after, moved, p.get("dropped", []))
        if VALIDATE:
            with open(os.path.join(self.dir, "before.xml"), "w") as f:
                f.write(before)
            with open(os.path.join(self.dir, "after.xml"), "w") as f:
                f.write(after)
            vb = run([VALIDATE, os.path.join(self.dir, "before.xml"), "domain"])
            va = run([VALIDATE, os.path.join(self.dir, "after.xml"), "domain"])
            if va.returncode != 0 and vb.returncode == 0:
                problems.append("the new definition does not validate: " + (va.stderr or va.stdout).strip()[-300:])
            elif va.returncode != 0:
                self.say("(the original definition does not validate either: schema not checked)")
        state = virsh("domstate", self.name).stdout.strip()
        if state != "shut off":
            problems.append(f"the domain is {state} after an offline migrate --no-start")
        rb = self.v2r("rollback", self.name, "--remove-images")
        if rb.returncode != 0:
            problems.append(f"rollback exit {rb.returncode}: {rb.stderr.strip()[-300:]}")
        elif dumpxml(self.name) != before:
            problems.append("rollback did not give back the original definition exactly")
        left = run(["rbd", "ls", POOL]).stdout.split()
        if any(i.startswith(self.name + "-") for i in left):
            problems.append("images left after rollback --remove-images")
        if problems:
            return "failed", "; ".join(problems)
        return "migrated", f"{len(moved)} disk(s) moved: {','.join(sorted(moved))}"

    def cleanup(self):
        virsh("destroy", self.name)
        if virsh("undefine", "--nvram", self.name).returncode != 0:
            virsh("undefine", self.name)
        for dev in self.loops:
            run(["losetup", "-d", dev])
        for pool in self.pools:
            virsh("pool-destroy", pool)
            virsh("pool-undefine", pool)
        shutil.rmtree(self.dir, ignore_errors=True)


# -- normalized trees -------------------------------------------------------
def norm(e):
    return (e.tag, tuple(sorted(e.attrib.items())), (e.text or "").strip(),
            tuple(norm(c) for c in e), )


def strip_moved(root, target, dropped):
    for disk in root.iter("disk"):
        t = disk.find("target")
        if t is None or t.get("dev") != target:
            continue
        disk.attrib.pop("type", None)
        if any(d.startswith(target + ": ") and "device=" in d for d in dropped):
            disk.attrib.pop("device", None)
        for tag in ("source", "driver"):
            for c in disk.findall(tag):
                disk.remove(c)
        for tag, mark in (("auth", "<auth "), ("backingStore", "<backingStore>")):
            if any(d.startswith(target + ": " + mark) for d in dropped):
                for c in disk.findall(tag):
                    disk.remove(c)


def compare(before, after, moved, dropped):
    b, a = ET.fromstring(before), ET.fromstring(after)
    for t in moved:
        strip_moved(b, t, dropped)
        strip_moved(a, t, dropped)
    problems = []
    diff(b, a, "/" + b.tag, problems)
    return problems[:5]


def diff(b, a, path, problems):
    if b.tag != a.tag or b.attrib != a.attrib or (b.text or "").strip() != (a.text or "").strip():
        problems.append(f"{path}: <{b.tag} {b.attrib}> became <{a.tag} {a.attrib}>")
        return
    bc, ac = list(b), list(a)
    if [norm(c) for c in bc] == [norm(c) for c in ac]:
        return
    if [c.tag for c in bc] != [c.tag for c in ac]:
        gone = [c.tag for c in bc if norm(c) not in [norm(x) for x in ac]]
        new = [c.tag for c in ac if norm(c) not in [norm(x) for x in bc]]
        problems.append(f"{path}: children changed (lost {gone}, gained {new})")
        return
    for i, (x, y) in enumerate(zip(bc, ac)):
        diff(x, y, f"{path}/{x.tag}[{i}]", problems)


def matches(outcome, detail, expected):
    kind, _, part = expected.partition(":")
    return outcome == kind and part in detail


def main():
    corpus = sys.argv[1]
    only = os.environ.get("V2R_CORPUS_ONLY", "*")
    jobs = int(os.environ.get("V2R_CORPUS_JOBS", "2"))
    files = sorted(f for f in os.listdir(corpus) if f.endswith(".xml"))
    unknown = [f for f in files if f not in EXPECTED]
    missing = [f for f in EXPECTED if f not in files]
    cases = [Case(i, os.path.join(corpus, f)) for i, f in enumerate(files) if fnmatch.fnmatch(f, only)]
    print(f"corpus: {len(files)} files in {corpus}, running {len(cases)} ({only}), {jobs} at a time", flush=True)
    bad = 0
    counts = {}
    start = time.time()

    def one(c):
        t0 = time.time()
        outcome, detail = c.result()
        return c, outcome, detail, time.time() - t0

    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as ex:
        results = list(ex.map(one, cases))
    for c, outcome, detail, took in sorted(results, key=lambda r: r[0].file):
        exp = EXPECTED.get(c.file, "(not in EXPECTED)")
        ok = matches(outcome, detail, exp)
        counts[outcome] = counts.get(outcome, 0) + 1
        mark = "ok  " if ok else "FAIL"
        print(f"{mark} {c.file}: {outcome} ({took:.1f}s): {detail}" + ("" if ok else f"  [expected {exp}]"))
        for line in c.log:
            print(f"       {line}")
        bad += not ok
    for f in unknown:
        print(f"FAIL {f}: not in the EXPECTED table")
        bad += 1
    if only == "*":
        for f in missing:
            print(f"FAIL {f}: in EXPECTED but not in the corpus")
            bad += 1
    print(f"corpus: {', '.join(f'{v} {k}' for k, v in sorted(counts.items()))} in {time.time() - start:.0f}s; "
          f"{bad} mismatch(es)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
