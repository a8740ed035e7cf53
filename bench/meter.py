"""Cost meter for one fuzz-loop step: replays a fixed set of fuzz programs on the emulator and
prints a trace fingerprint, function calls per step (cProfile: noise-free) and, with ``--wall``,
the best of three wall-clock passes (noisy on a shared machine).

    python bench/meter.py make PROGRAMS.yaml [--steps 150000]   # a program set from a campaign
    python bench/meter.py run PROGRAMS.yaml [bare|feedback|oracles] [--top N] [--wall]

``make`` runs the default campaign (seed 1) on nrf52-reference and keeps 400 of its corpus
programs. ``run`` replays them: ``bare`` is the target and runner only, ``feedback`` adds the
transitions, ``oracles`` every invariant too. A change that only makes the loop faster must leave
the fingerprint as it was: it covers every trace event, violation, transition and step count.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fuzzer import fuzzcmd  # noqa: E402
from fuzzer.engine.campaign import Budget, Campaign  # noqa: E402
from fuzzer.engine.execute import ProgramRun, execute  # noqa: E402
from fuzzer.engine.procedures import PROCEDURES  # noqa: E402
from fuzzer.engine.program import Program  # noqa: E402
from fuzzer.profiles import resolve_profile  # noqa: E402
from fuzzer.trace.atomic import write_atomic  # noqa: E402

DEVICE = "nrf52-reference"


def default_campaign(device: str, out: Path, budget: Budget) -> tuple[dict[str, Any], Campaign]:
    """The default campaign (seed 1) on the emulated ``device``, writing to ``out``, and the
    specs it was loaded with (``fuzzcmd._load_common``)."""
    common = fuzzcmd._load_common(None)
    target = fuzzcmd._target("emulator", resolve_profile(device), 1)
    return common, Campaign(common["config"], target, {"name": device}, common["invariants"],
                            common["central"], common["models"], set(PROCEDURES), out, 1, budget)


def make(path: Path, steps: int) -> None:
    with tempfile.TemporaryDirectory() as out:
        _, c = default_campaign(DEVICE, Path(out), Budget(None, steps))
        c.seed_corpus(fuzzcmd._seed_programs())
        c.run()
        entries = sorted(c.corpus.entries.values(), key=lambda e: (e.iteration, e.id))[:400]
    write_atomic(path, yaml.safe_dump([e.program.to_dict() for e in entries], sort_keys=False))
    print(f"{len(entries)} programs in {path}")


def _fingerprint(digest, run: ProgramRun) -> None:
    for e in run.trace.events:
        link = e.link
        digest.update(repr((
            e.seq, e.t, e.kind, e.src, e.layer, e.data, e.air, e.step,
            sorted((e.info or {}).items(), key=str),
            None if link is None else (link.conn_id, link.peer, link.peer_address,
                                       link.device_address, link.access_address,
                                       link.crc_init, link.encrypted, link.key_size))).encode())
    digest.update(repr(sorted((i, v.signature, v.step, v.message)
                              for i, v in run.violations)).encode())
    digest.update(repr((sorted(run.transitions), run.steps, run.error)).encode())


def run(path: Path, mode: str, top: int, wall: bool) -> None:
    common = fuzzcmd._load_common(None)
    target = fuzzcmd._target("emulator", resolve_profile(DEVICE), 1)
    programs = [Program.from_dict(d, path, set(PROCEDURES))
                for d in yaml.safe_load(path.read_text())]
    invariants = common["invariants"] if mode == "oracles" else []

    def once(digest=None) -> int:
        steps = 0
        for i, program in enumerate(programs):
            r = execute(target, program, invariants, common["central"], i,
                        common["config"].expectations, feedback=mode != "bare")
            steps += r.steps
            if digest is not None:
                _fingerprint(digest, r)
        return steps

    digest = hashlib.sha256()
    once(digest)  # also warms the caches
    print(f"trace fingerprint: {digest.hexdigest()[:16]}")
    profile = cProfile.Profile()
    profile.enable()
    steps = once()
    profile.disable()
    stats = pstats.Stats(profile)
    calls = sum(v[1] for v in stats.stats.values())
    python = sum(v[1] for k, v in stats.stats.items() if k[0] != "~")
    print(f"{mode}: {steps} steps, {calls / steps:.1f} calls/step, "
          f"{python / steps:.1f} Python-function calls/step")
    if top:
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(top)
        print("\n".join(line for line in text.getvalue().splitlines() if line.strip()))
    if wall:
        best = min(_timed(once) for _ in range(3))
        print(f"wall: best of 3 = {best * 1e6:.1f} us/step ({1 / best:.0f} steps/s)")


def _timed(once) -> float:
    start = time.perf_counter()
    steps = once()
    return (time.perf_counter() - start) / steps


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make")
    m.add_argument("programs", type=Path)
    m.add_argument("--steps", type=int, default=150_000)
    r = sub.add_parser("run")
    r.add_argument("programs", type=Path)
    r.add_argument("mode", nargs="?", default="oracles", choices=("bare", "feedback", "oracles"))
    r.add_argument("--top", type=int, default=0)
    r.add_argument("--wall", action="store_true")
    args = ap.parse_args()
    if args.command == "make":
        make(args.programs, args.steps)
    else:
        run(args.programs, args.mode, args.top, args.wall)
    return 0


if __name__ == "__main__":
    sys.exit(main())
