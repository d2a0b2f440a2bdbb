#!/usr/bin/env python3
"""Mutation harness: applies each mutant of mutants.py to a fresh copy of HEAD, builds the
core-only release binary into a private target directory, sweeps the protocol's chaos
scenarios and reports caught / missed, by which check, at which first seed.

    python3 tools/mutants/run.py --seeds 300 [--only raft] [--mutant zab-] [--work DIR]

Every sweep of the protocol is run on every mutant, and each one that catches it is listed.
A mutant is caught when a sweep reports a violated invariant, or a missed expectation (such as
`Healed`) on a seed where the unmutated code meets it (the baseline is swept first).
"""
import argparse, os, re, shutil, subprocess, sys
sys.path.insert(0, os.path.dirname(__file__))
from mutants import MUTANTS, SWEEPS

ROOT = subprocess.check_output(["git", "rev-parse", "--show-toplevel"], text=True).strip()

def copy_head(dst):
    if os.path.exists(dst):
        shutil.rmtree(dst)
    os.makedirs(dst)
    archive = subprocess.Popen(["git", "-C", ROOT, "archive", "HEAD"], stdout=subprocess.PIPE)
    subprocess.check_call(["tar", "-x", "-C", dst], stdin=archive.stdout)
    archive.wait()

def build(src, target):
    env = dict(os.environ, CARGO_TARGET_DIR=target)
    r = subprocess.run(["cargo", "build", "--quiet", "--release", "--no-default-features"],
                       cwd=src, env=env, capture_output=True, text=True)
    return r.returncode == 0, r.stderr

def sweep(binary, src, scenario, seeds):
    """Returns {seed: reason} for the failing seeds."""
    r = subprocess.run([binary, "check", scenario, "--seeds", f"0..{seeds}", "--jobs", "1"],
                       cwd=src, capture_output=True, text=True)
    out = r.stdout + r.stderr
    fails = {}
    for m in re.finditer(r"^seed (\d+): (.*)$", out, re.M):
        fails.setdefault(int(m.group(1)), m.group(2))
    return fails

def check_name(reason):
    m = re.match(r"([A-Z][A-Za-z -]+?) violated at", reason)
    if m:
        return m.group(1)
    if "healed" in reason:
        return "Healed"
    return reason[:60]

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=300)
    ap.add_argument("--only", help="one protocol")
    ap.add_argument("--mutant", help="only the mutants whose name contains this")
    ap.add_argument("--work", default="/tmp/distsim-mutants")
    a = ap.parse_args()
    src, target = os.path.join(a.work, "src"), os.path.join(a.work, "target")
    binary = os.path.join(target, "release", "distsim")
    copy_head(src)
    ok, err = build(src, target)
    assert ok, err
    chosen = [m for m in MUTANTS if (not a.only or m[1] == a.only)
              and (not a.mutant or a.mutant in m[0])]
    protocols = sorted({m[1] for m in chosen})
    baseline = {s: sweep(binary, src, s, a.seeds) for p in protocols for s in SWEEPS[p]}
    rows = []
    for name, proto, path, old, new in chosen:
        copy_head(src)
        f = os.path.join(src, path)
        text = open(f).read()
        assert text.count(old) == 1, f"{name}: the original text is not found exactly once"
        open(f, "w").write(text.replace(old, new))
        ok, err = build(src, target)
        if not ok:
            rows.append((proto, name, "build failed", "-", "-"))
            continue
        found = []
        for s in SWEEPS[proto]:
            fails = {k: v for k, v in sweep(binary, src, s, a.seeds).items()
                     if k not in baseline[s] or " violated at " in v}
            if fails:
                seed = min(fails)
                found.append((os.path.basename(s), check_name(fails[seed]), seed, len(fails)))
        if found:
            rows.append((proto, name, "caught",
                         "; ".join(f"{f[1]} ({f[0]})" for f in found),
                         "; ".join(f"first seed {f[2]}, {f[3]}/{a.seeds}" for f in found)))
        else:
            rows.append((proto, name, "missed", "-", "-"))
        print(*rows[-1], sep=" | ", flush=True)
    print(f"\n| protocol | mutant | result | check (sweep) | seeds ({a.seeds} per sweep) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    for p in protocols:
        mine = [r for r in rows if r[0] == p]
        caught = sum(r[2] == "caught" for r in mine)
        print(f"{p}: {caught}/{len(mine)} caught")

if __name__ == "__main__":
    main()
