"""Detection benchmark: for every invariant that has a violating test device, run campaigns with
seeds 1, 2 and 3 (model-guided and the random baseline) and report the seconds and steps until
that invariant's first finding.

    python bench/detection.py [--budget 60] [--seeds 1,2,3] [--jobs 2] [--out bench/detection.md]

Each campaign stops at its first finding of the target invariant or at the budget. The flawed
devices are the classes of tests/fixtures (named in temporary profiles, as a user would).
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"

# invariant -> (base profile, overrides)
DEVICES: dict[str, tuple[str, dict]] = {
    "BOND-ENC": ("nrf51-s110-custom-bootloader", {}),
    "BOND-GATE": ("nrf52-reference", {"flaws": ["gatt-ignores-encryption"]}),
    "LTK-LEAK": ("nrf52-reference", {"flaws": ["reuse-bonded-ltk"]}),
    "LIVENESS": ("nrf52-reference",
                 {"components": {"gatt": f"{FIXTURES}/hang_gatt.py:HangingAttServer"}}),
}
for _inv, _cls in {
    "ZERO-LTK": "ZeroLtkSecurityManager", "KEY-SIZE": "KnobSecurityManager",
    "DHKEY-FIRST": "NoDhkeyCheckSecurityManager",
    "PUBKEY-VALID": "NoPublicKeyValidationSecurityManager",
    "NO-REFLECTION": "StaticKeyReflectionSecurityManager",
    "SMP-ORDER": "OutOfOrderSecurityManager",
    "REPEATED-ATTEMPTS": "NoRepeatedAttemptsSecurityManager",
    "AUTH-LEVEL": "JustWorksIsAuthenticatedSecurityManager",
    "NO-DOWNGRADE": "DowngradeSecurityManager", "DEBUG-KEY": "DebugKeyBondSecurityManager",
}.items():
    DEVICES[_inv] = ("nrf52-reference",
                     {"components": {"smp": f"{FIXTURES}/flawed_smp.py:{_cls}"}})


def profile_path(invariant: str, directory: Path) -> str:
    from fuzzer.profiles import builtin_profiles

    base, overrides = DEVICES[invariant]
    if not overrides:
        return base
    data = yaml.safe_load(builtin_profiles()[base].read_text(encoding="utf-8"))
    data["name"] = f"flawed-{invariant.lower()}"
    data.update(overrides)
    path = directory / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return str(path)


def one(job: tuple[str, str, int, str, float]) -> dict:
    """One campaign until the target invariant's first finding; seconds and steps to it."""
    invariant, device, seed, strategy, budget = job
    from fuzzer import fuzzcmd
    from fuzzer.engine.campaign import Budget, Campaign
    from fuzzer.engine.procedures import PROCEDURES
    from fuzzer.profiles import resolve_profile

    common = fuzzcmd._load_common(None)
    profile = resolve_profile(device)
    target = fuzzcmd._target("emulator", profile, seed)
    with tempfile.TemporaryDirectory() as out:
        campaign = Campaign(common["config"], target, {"name": profile.name}, common["invariants"],
                            common["central"], common["models"], set(PROCEDURES), Path(out),
                            seed, Budget(budget, None), strategy)
        start = time.perf_counter()
        campaign._start = start
        hit = None
        while time.perf_counter() - start < budget:
            campaign.iterate()
            campaign.stats.elapsed = time.perf_counter() - start
            found = [f for f in campaign.found.values() if f["invariant"] == invariant]
            if found:
                hit = found[0]
                break
        campaign.corpus.flush()  # its writer thread done before the folder is removed
    return {"invariant": invariant, "seed": seed, "strategy": strategy,
            "found": hit is not None,
            "seconds": hit["found"]["elapsed_s"] if hit else None,
            "steps": hit["found"]["steps"] if hit else None,
            "finding_steps": hit.get("steps") if hit else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=60.0)
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--strategies", default="model,random")
    ap.add_argument("--invariants", default=",".join(DEVICES))
    ap.add_argument("--out", default=str(ROOT / "bench" / "detection.md"))
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    tmp = Path(tempfile.mkdtemp(prefix="blefuzz-detection-"))
    jobs = [(inv, profile_path(inv, tmp), int(seed), strategy, args.budget)
            for inv in args.invariants.split(",") for strategy in args.strategies.split(",")
            for seed in args.seeds.split(",")]
    with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
        results = []
        for r in pool.imap_unordered(one, jobs):
            results.append(r)
            print(r, flush=True)
    lines = [f"Detection with a {args.budget:.0f} s budget per campaign, seeds {args.seeds}; "
             f"median over the seeds that found it (found/total).", "",
             "| invariant | device | model: s | model: steps | model: finding steps | "
             "random: s | random: steps |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for inv in args.invariants.split(","):
        row = [inv, DEVICES[inv][0] + (" + flaw" if DEVICES[inv][1] else "")]
        for strategy in args.strategies.split(","):
            rs = [r for r in results if r["invariant"] == inv and r["strategy"] == strategy]
            hits = [r for r in rs if r["found"]]
            n = f"{len(hits)}/{len(rs)}"
            if hits:
                row += [f"{statistics.median(r['seconds'] for r in hits):.2f} ({n})",
                        f"{statistics.median(r['steps'] for r in hits):.0f}"]
                if strategy == "model":
                    row.append(f"{max(r['finding_steps'] for r in hits)}")
            else:
                row += [f"not found ({n})", "-"] + (["-"] if strategy == "model" else [])
        lines.append("| " + " | ".join(row) + " |")
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
