#!/usr/bin/python3
"""Dataset generator of bench/run (stdlib only).

  gen.py runs FILE SIZE FRACTION SEED [MIN MAX]
      A sparse FILE of SIZE bytes: data runs (random bytes) whose lengths are
      log-uniform in [MIN, MAX] (default 64K..8M), 4 KiB aligned, placed between
      holes, FRACTION of SIZE in total (0.5: "mixed", 0.01: "sparse").
  gen.py dense FILE SIZE SEED
      SIZE random bytes, no hole.
  gen.py split BIG N PREFIX
      Cut BIG into N equal parts PREFIX0..PREFIX{N-1}, keeping its holes
      (data extents found with SEEK_DATA/SEEK_HOLE are copied, nothing else).
  gen.py dropcache PATH...
      posix_fadvise(DONTNEED) on each PATH (files, block devices): their clean
      pages leave the page cache, so every tool reads from the disk.
  gen.py stats FILE
      "SIZE DATA_BYTES" of FILE: its size and the bytes that are not zero,
      counted in 4 KiB blocks (reads only the extents SEEK_DATA reports).

Random bytes come from `openssl enc -aes-128-ctr` over /dev/zero keyed by the
seed (about 400 MB/s here; os.urandom does 170), so a dataset is reproducible.
Every file is fsync'ed. Sizes accept K/M/G/T suffixes (powers of 1024).
"""
import os
import random
import subprocess
import sys

BLOCK = 4096


def parse_size(s):
    s = str(s).strip()
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    if s and s[-1].upper() in mult:
        return int(float(s[:-1]) * mult[s[-1].upper()])
    return int(s)


class RandomStream:
    def __init__(self, seed):
        self.p = subprocess.Popen(
            ["openssl", "enc", "-aes-128-ctr", "-pass", "pass:v2rbench%s" % seed, "-nosalt",
             "-pbkdf2", "-in", "/dev/zero"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)

    def read(self, n):
        buf = bytearray(n)
        mv = memoryview(buf)
        got = 0
        while got < n:
            k = self.p.stdout.readinto(mv[got:])
            if not k:
                raise RuntimeError("openssl stream ended")
            got += k
        return buf

    def close(self):
        self.p.kill()
        self.p.wait()


def write_data(fd, rnd, off, length):
    step = 8 << 20
    end = off + length
    while off < end:
        n = min(step, end - off)
        os.pwrite(fd, rnd.read(n), off)
        off += n


def cmd_runs(path, size, fraction, seed, lo=64 << 10, hi=8 << 20):
    rng = random.Random(seed)
    target = int(size * fraction) // BLOCK * BLOCK
    runs = []
    total = 0
    while total < target:
        # log-uniform length, 4 KiB aligned
        n = int(lo * (hi / lo) ** rng.random()) // BLOCK * BLOCK
        n = max(BLOCK, min(n, target - total))
        runs.append(n)
        total += n
    zeros = (size - total) // BLOCK * BLOCK
    # k runs, k+1 gaps with random weights summing to the zero bytes
    w = [rng.expovariate(1.0) for _ in range(len(runs) + 1)]
    sw = sum(w)
    gaps = [int(zeros * x / sw) // BLOCK * BLOCK for x in w]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.ftruncate(fd, size)
    rnd = RandomStream(seed)
    pos = 0
    for i, n in enumerate(runs):
        pos += gaps[i]
        if pos + n > size:
            break
        write_data(fd, rnd, pos, n)
        pos += n
    rnd.close()
    os.fsync(fd)
    os.close(fd)


def cmd_dense(path, size, seed):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    rnd = RandomStream(seed)
    write_data(fd, rnd, 0, size)
    rnd.close()
    os.ftruncate(fd, size)
    os.fsync(fd)
    os.close(fd)


def data_extents(fd, start, end):
    pos = start
    while pos < end:
        try:
            d = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError:
            return  # ENXIO: only a hole is left
        if d >= end:
            return
        h = min(os.lseek(fd, d, os.SEEK_HOLE), end)
        yield d, h
        pos = h


def cmd_split(big, n, prefix):
    fd = os.open(big, os.O_RDONLY)
    size = os.fstat(fd).st_size
    part = size // n
    for i in range(n):
        out = os.open("%s%d" % (prefix, i), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.ftruncate(out, part)
        base = i * part
        for d, h in data_extents(fd, base, base + part):
            off = d
            while off < h:
                k = min(8 << 20, h - off)
                os.pwrite(out, os.pread(fd, k, off), off - base)
                off += k
        os.fsync(out)
        os.close(out)
    os.close(fd)


def cmd_stats(path):
    fd = os.open(path, os.O_RDONLY)
    size = os.fstat(fd).st_size
    nonzero = 0
    zero_block = bytes(BLOCK)
    for d, h in data_extents(fd, 0, size):
        off = d
        while off < h:
            k = min(8 << 20, h - off)
            buf = os.pread(fd, k, off)
            for j in range(0, len(buf), BLOCK):
                blk = buf[j:j + BLOCK]
                if blk != zero_block[:len(blk)]:
                    nonzero += len(blk)
            off += k
    os.close(fd)
    print(size, nonzero)


def cmd_dropcache(paths):
    for p in paths:
        try:
            fd = os.open(p, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[1], argv[2:]
    if cmd == "runs":
        extra = [parse_size(a) for a in args[4:6]]
        cmd_runs(args[0], parse_size(args[1]), float(args[2]), int(args[3]), *extra)
    elif cmd == "dense":
        cmd_dense(args[0], parse_size(args[1]), int(args[2]))
    elif cmd == "split":
        cmd_split(args[0], int(args[1]), args[2])
    elif cmd == "dropcache":
        cmd_dropcache(args)
    elif cmd == "stats":
        cmd_stats(args[0])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
