#!/usr/bin/env python3
"""Where the firmware probe's `.text` bytes come from (a developer tool; CI does not run it).

Builds the thumbv7em size probe like scripts/size.sh does, but unstripped with line tables,
then attributes every instruction's bytes to the innermost latchkey-core (or probe) frame of
its inline chain, so code the compiler inlined from `core` (Result plumbing, bounds checks,
u64 arithmetic) counts against the latchkey function that caused it.

Usage: scripts/size-explain.py [--full] [files | functions [N] | lines FILE [N]]
  --full   the probe with every dialect (the `full` feature), not plain RFC 6749
Needs llvm-objdump and llvm-symbolizer on PATH (Debian: apt-get install llvm).
"""
import collections
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET_DIR = os.path.join(ROOT, "target", "size-explain")
ELF = os.path.join(TARGET_DIR, "thumbv7em-none-eabihf", "min-size", "latchkey-size-firmware")


def build(full):
    env = dict(os.environ)
    env["RUSTFLAGS"] = '--cfg sha2_backend="soft" --cfg sha2_backend_soft="compact"'
    env["CARGO_PROFILE_MIN_SIZE_STRIP"] = "false"
    env["CARGO_PROFILE_MIN_SIZE_DEBUG"] = "line-tables-only"
    subprocess.run(
        ["cargo", "+stable", "build", "--quiet", "--locked",
         "--manifest-path", os.path.join(ROOT, "benches", "size-probe", "Cargo.toml"),
         "--target-dir", TARGET_DIR, "--profile", "min-size",
         "--target", "thumbv7em-none-eabihf", "-p", "latchkey-size-firmware"]
        + (["--features", "full"] if full else []),
        check=True, env=env)


def frames_per_instruction():
    """(size, [(function, file:line)], innermost first) for every instruction in .text."""
    dis = subprocess.run(["llvm-objdump", "-d", "--no-show-raw-insn", ELF],
                         capture_output=True, text=True, check=True).stdout
    addrs = sorted(int(m.group(1), 16)
                   for m in (re.match(r"\s*([0-9a-f]+):\s", l) for l in dis.splitlines()) if m)
    # Thumb-2 instructions are 2 or 4 bytes; a larger gap is padding or a literal pool.
    sizes = [min(b - a, 4) for a, b in zip(addrs, addrs[1:] + [addrs[-1] + 2])]
    out = subprocess.run(["llvm-symbolizer", "--inlining", "--demangle", "-e", ELF],
                         input="".join(f"{a:#x}\n" for a in addrs),
                         capture_output=True, text=True, check=True).stdout
    for size, block in zip(sizes, out.split("\n\n")):
        lines = block.strip().splitlines()
        yield size, list(zip(lines[0::2], lines[1::2]))


def ours(frames):
    for fn, loc in frames:
        if "latchkey-core/src/" in loc or "size-probe/" in loc:
            fn = re.sub(r"::h[0-9a-f]{16}$", "", fn)
            while re.search(r"<[^<>]*>", fn):
                fn = re.sub(r"<[^<>]*>", "", fn)
            return loc.rsplit("/", 1)[-1], fn
    return None


def main(argv):
    full = "--full" in argv
    argv = [a for a in argv if a != "--full"]
    mode = argv[1] if len(argv) > 1 else "files"
    for tool in ("llvm-objdump", "llvm-symbolizer"):
        if shutil.which(tool) is None:
            sys.exit(f"size-explain: {tool} not found; install LLVM (Debian: apt-get install llvm)")
    build(full)
    count = collections.Counter()
    total = 0
    for size, frames in frames_per_instruction():
        total += size
        hit = ours(frames)
        if hit is None:
            lib = frames[0][1].split(":")[0] if frames else "?"
            lib = re.sub(r".*/library/", "core/", re.sub(r".*/registry/src/[^/]+/", "", lib))
            key = f"(not ours) {lib}"
        else:
            loc, fn = hit
            file, line = loc.split(":")[:2] if loc.count(":") >= 1 else (loc, "0")
            if mode == "files":
                key = file
            elif mode == "functions":
                key = f"{file} {fn}"
            elif mode == "lines":
                if file != argv[2]:
                    continue
                key = f"{file}:{line}"
            else:
                sys.exit(__doc__)
        count[key] += size
    limit = int(argv[-1]) if argv[-1].isdigit() else 40
    for key, n in count.most_common(limit):
        print(f"{n:7d}  {key}")
    print(f"{total:7d}  .text in all")


if __name__ == "__main__":
    main(sys.argv)
