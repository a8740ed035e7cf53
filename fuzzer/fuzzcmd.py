"""`blefuzz fuzz`, `blefuzz replay` and `blefuzz minimize`: campaigns, their workers and
progress, and the findings they leave."""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fuzzer import __version__
from fuzzer.emulator.profile import DeviceProfile
from fuzzer.engine.campaign import (
    STRATEGIES,
    Budget,
    Campaign,
    CampaignConfig,
    Stats,
    StopRequest,
    remove_leftovers,
)
from fuzzer.engine.central import load_models as load_central_models
from fuzzer.engine.execute import execute
from fuzzer.engine.findings import Finding, load_finding, save_finding
from fuzzer.engine.minimize import minimize
from fuzzer.engine.models import load_models
from fuzzer.engine.procedures import PROCEDURES
from fuzzer.engine.program import Program
from fuzzer.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_VIOLATION, UsageError
from fuzzer.oracles.invariants import load_invariants
from fuzzer.paths import corpora_dir, specs_dir
from fuzzer.profiles import resolve_profile
from fuzzer.report import fuzz_report, json_report
from fuzzer.schema import SpecError
from fuzzer.targets.emulator import EmulatorTarget
from fuzzer.trace.atomic import write_atomic


def add_parsers(sub: Any) -> None:
    f = sub.add_parser("fuzz", help="run a fuzzing campaign")
    f.add_argument("--device", required=True, help="built-in profile name or a profile YAML")
    f.add_argument("--campaign", help="campaign YAML (default: specs/campaigns/default.yaml)")
    f.add_argument("--target", default="emulator", help="emulator (default)")
    f.add_argument("--seed", type=int, default=0, help="seed for every random choice")
    budget = f.add_mutually_exclusive_group()
    budget.add_argument("--time", type=float, metavar="S", help="time budget in seconds")
    budget.add_argument("--steps", type=int, metavar="N", help="step budget")
    f.add_argument("--workers", type=int, default=1, metavar="N", help="worker processes")
    f.add_argument("--strategy", choices=STRATEGIES, default="model",
                   help="model: state models and feedback (default); random: random "
                        "well-formed steps, no model, no feedback (a baseline)")
    f.add_argument("--out", help="output folder (default: results/<run-id>)")
    f.add_argument("--resume", metavar="DIR", help="continue the campaign in DIR")
    f.add_argument("--junit", metavar="FILE", help="also write JUnit XML to FILE")
    f.add_argument("--quiet", action="store_true", help="a plain progress line every 5 s")
    r = sub.add_parser("replay", help="re-run a saved finding and report its violation")
    r.add_argument("finding", help="finding.yaml or its folder")
    r.add_argument("--target", default="emulator")
    r.add_argument("--device", help="override the finding's device")
    m = sub.add_parser("minimize", help="shrink a finding's program to the fewest steps")
    m.add_argument("finding", help="finding.yaml or its folder (a program you edited too)")
    m.add_argument("--device", help="override the finding's device")
    m.add_argument("--out", help="where to write the minimized finding (default: next to it)")


# --- shared setup ------------------------------------------------------------------------------

def _load_common(campaign_path: str | None) -> dict[str, Any]:
    specs = specs_dir()
    config = CampaignConfig.load(campaign_path or specs / "campaigns" / "default.yaml")
    invariants = load_invariants(specs / "invariants.yaml")
    if config.invariants:
        known = {i.id for i in invariants}
        for i, name in enumerate(config.invariants):
            if name not in known:
                raise SpecError(config.source, f"invariants[{i}]",
                                f"unknown invariant {name!r}; known: {', '.join(sorted(known))}")
        invariants = [i for i in invariants if i.id in config.invariants]
    models = load_models(specs / "models", set(PROCEDURES))
    if config.models:
        for i, name in enumerate(config.models):
            if name not in models:
                raise SpecError(config.source, f"models[{i}]",
                                f"unknown model {name!r}; known: {', '.join(sorted(models))}")
        chosen = [models[n] for n in config.models]
    else:
        chosen = list(models.values())
    central = load_central_models(specs / "centrals")
    for name, peer in config.peers.items():
        if peer.model not in central:
            raise SpecError(config.source, f"peers.{name}.model",
                            f"unknown central model {peer.model!r}; known: "
                            f"{', '.join(sorted(central))}")
    return {"config": config, "invariants": invariants, "models": chosen, "central": central}


def _seed_programs() -> list[Program]:
    """The seed programs in corpora/, validated (a bad one names its file)."""
    return [Program.load(path, set(PROCEDURES))
            for path in sorted(corpora_dir().glob("*.yaml"))]


def _target(spec: str, profile: DeviceProfile, seed: int) -> EmulatorTarget:
    if spec != "emulator":
        raise UsageError(f"--target {spec}: only the emulator target is available in this "
                         f"version")
    return EmulatorTarget(profile, seed=seed)


def _device(profile: DeviceProfile) -> dict[str, str]:
    return {"name": profile.name, "source": profile.source}


# --- fuzz --------------------------------------------------------------------------------------

def _worker(args: dict[str, Any], worker: int, queue: Any) -> None:
    """One worker process (also used in-process for --workers 1)."""
    common = _load_common(args["campaign"])
    profile = resolve_profile(args["device"])
    target = _target(args["target"], profile, args["seed"])
    models = [m for m in common["models"]
              if set(m.requires) <= set(target.capabilities)] or common["models"]

    def progress(stats: Stats) -> None:
        if queue is not None:
            queue.put((worker, stats.to_dict()))

    campaign = Campaign(common["config"], target, _device(profile), common["invariants"],
                        common["central"], models, set(PROCEDURES), Path(args["out"]),
                        args["seed"] + worker * 7919, Budget(args["time"], args["steps"]),
                        args["strategy"], worker, progress)
    campaign.resume()
    if args["strategy"] != "random":
        campaign.seed_corpus(_seed_programs())
    campaign.run()
    if queue is not None:
        queue.put((worker, "done"))


def fuzz(args: argparse.Namespace, argv: list[str], out_dir: Path) -> int:
    common = _load_common(args.campaign)  # validate everything before any work
    profile = resolve_profile(args.device)
    _target(args.target, profile, args.seed)
    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.resume:
        out = Path(args.resume)
        if not out.is_dir():
            raise UsageError(f"--resume {out}: no such campaign folder")
    else:
        out = Path(args.out) if args.out else out_dir
    config: CampaignConfig = common["config"]
    time_s = args.time if args.time is not None else (
        None if args.steps is not None else config.time_s)
    steps = args.steps if args.steps is not None else (None if args.time is not None
                                                       else config.steps)
    if time_s is None and steps is None:
        time_s = 60.0
    out.mkdir(parents=True, exist_ok=True)
    remove_leftovers(out)
    job = {"campaign": args.campaign, "device": args.device, "target": args.target,
           "seed": args.seed, "out": str(out), "strategy": args.strategy,
           "time": None if time_s is None else float(time_s),
           "steps": None if steps is None else (steps + args.workers - 1) // args.workers}
    started = time.perf_counter()
    display = _Progress(args.quiet or not sys.stderr.isatty(), time_s, steps, args.workers)
    interrupt = _Interrupt()
    try:
        with interrupt.installed():
            _run_workers(job, args.workers, display, interrupt)
    finally:  # a worker's failure or a second Ctrl-C: the terminal gets its cursor back
        display.close()
    report = fuzz_report.build(out, common, profile, args, argv, time.perf_counter() - started,
                               __version__)
    json_report.write_json(out / "report.json", report)
    write_atomic(out / "report.md", fuzz_report.render(report))
    if args.junit:
        from fuzzer.report.junit import write_junit

        write_junit(Path(args.junit), report)
    print(f"{report['summary']['findings']} finding(s), {report['stats']['steps']} steps "
          f"({report['stats']['steps_per_s']:.0f}/s), {report['stats']['transitions']} "
          f"transitions; results in {out}")
    if interrupt.count:
        print(f"blefuzz: interrupted; continue with --resume {out}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_VIOLATION if report["summary"]["findings"] else EXIT_OK


class _Interrupt:
    """SIGINT during a campaign. The first one asks every worker to stop after the program it
    is running, so the results so far are saved and reported; a second one aborts at once (what
    is on disk is still whole: every write is atomic)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.children: list[Any] = []  # worker processes, to pass the request on to
        self.count = 0

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """This handler for SIGINT in the block (where signals can be handled: the main
        thread), then the previous one; the stop request is cleared after."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.signal(signal.SIGINT, self)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)
            StopRequest.clear()

    def __call__(self, signum: int, frame: Any) -> None:
        if os.getpid() != self.pid:  # a worker process (forked with this handler)
            StopRequest.request()
            return
        self.count += 1
        if self.count > 1:
            raise KeyboardInterrupt
        StopRequest.request()
        for p in self.children:  # a SIGINT sent to this process only reaches them too
            if p.is_alive():
                os.kill(p.pid, signal.SIGINT)
        print("blefuzz: stopping after the current program, saving the results "
              "(Ctrl-C again to abort)", file=sys.stderr)


def _run_workers(job: dict[str, Any], workers: int, display: _Progress,
                 interrupt: _Interrupt) -> None:
    """Run the campaign's workers: in this process for one, else one process each."""
    if workers == 1:
        _worker(job, 0, _InlineQueue(display))
    else:
        ctx = multiprocessing.get_context("fork")
        q = ctx.Queue()
        procs = [ctx.Process(target=_worker, args=(job, w, q), daemon=True)
                 for w in range(workers)]
        interrupt.children = procs
        for p in procs:
            p.start()
        running = set(range(workers))
        while running:
            try:
                worker, stats = q.get(timeout=1.0)
            except Exception:  # noqa: BLE001 - a queue timeout: check the processes
                if not any(p.is_alive() for p in procs):
                    break
                continue
            if stats == "done":
                running.discard(worker)
            else:
                display.update(worker, stats)
        for p in procs:
            p.join()
        if any(p.exitcode for p in procs):
            raise UsageError("a worker process failed; see the messages above")


class _InlineQueue:
    def __init__(self, display: _Progress) -> None:
        self.display = display

    def put(self, item: tuple[int, Any]) -> None:
        worker, stats = item
        if stats != "done":
            self.display.update(worker, stats)


class _Progress:
    """A live rich display, or a plain line every few seconds (not a terminal, or --quiet)."""

    def __init__(self, plain: bool, time_s: float | None, steps: int | None,
                 workers: int) -> None:
        self.plain = plain
        self.time_s, self.steps, self.workers = time_s, steps, workers
        self.stats: dict[int, dict[str, Any]] = {}
        self.last = 0.0
        self.live = None
        if not plain:
            from rich.live import Live

            self.live = Live(self._render(), refresh_per_second=4, transient=True)
            self.live.start()

    def _totals(self) -> dict[str, Any]:
        s = list(self.stats.values())
        steps = sum(x["steps"] for x in s)
        elapsed = max((x["elapsed"] for x in s), default=0.0)
        return {"steps": steps, "elapsed": elapsed,
                "rate": steps / elapsed if elapsed else 0.0,
                "transitions": max((x["transitions"] for x in s), default=0),
                "corpus": max((x["corpus"] for x in s), default=0),
                "findings": max((x["findings"] for x in s), default=0)}

    def _line(self) -> str:
        t = self._totals()
        budget = (f"{t['elapsed']:.0f}/{self.time_s:.0f} s" if self.time_s is not None
                  else f"{t['steps']}/{self.steps} steps")
        return (f"[{budget}] {t['rate']:.0f} steps/s, {t['transitions']} transitions, corpus "
                f"{t['corpus']}, findings {t['findings']}, workers {self.workers}")

    def _render(self) -> Any:
        from rich.panel import Panel

        return Panel(self._line(), title="blefuzz fuzz")

    def update(self, worker: int, stats: dict[str, Any]) -> None:
        self.stats[worker] = stats
        if self.live is not None:
            self.live.update(self._render())
        elif time.monotonic() - self.last >= 5.0:
            self.last = time.monotonic()
            print(self._line(), file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()


# --- replay and minimize ---------------------------------------------------------------------

def _setup_finding(path: str, device: str | None) -> tuple[Finding, DeviceProfile, dict]:
    finding = load_finding(path, set(PROCEDURES))
    name = device or finding.device.get("source") or finding.device["name"]
    if not device and not Path(name).is_file():
        name = finding.device["name"]
    profile = resolve_profile(name)
    common = _load_common(None)
    known = {i.id for i in common["invariants"]}
    if finding.invariant not in known:
        raise SpecError(path, "invariant", f"unknown invariant {finding.invariant!r}")
    return finding, profile, common


def replay(args: argparse.Namespace) -> int:
    finding, profile, common = _setup_finding(args.finding, args.device)
    target = _target(args.target, profile, finding.seed)
    run = execute(target, finding.program, common["invariants"], common["central"],
                  finding.seed, finding.program.expectations, feedback=False)
    key = (finding.invariant, finding.signature)
    hits = [v for inv, v in run.violations if (inv, v.signature) == key]
    if hits:
        print(f"reproduced {finding.invariant} ({finding.id}): {hits[0].message}")
        for e in hits[0].events:
            from fuzzer.trace.describe import summarize

            print(f"  #{e.seq} {summarize(e)}")
        return EXIT_VIOLATION
    others = sorted({inv for inv, _ in run.violations})
    extra = f"; other violations: {', '.join(others)}" if others else ""
    print(f"not reproduced: {finding.invariant} did not fail{extra}")
    return EXIT_VIOLATION if others else EXIT_OK


def minimize_cmd(args: argparse.Namespace) -> int:
    finding, profile, common = _setup_finding(args.finding, args.device)
    target = _target("emulator", profile, finding.seed)
    key = (finding.invariant, finding.signature)

    def test(steps) -> bool:
        program = Program(finding.program.name, finding.program.peers, steps,
                          expectations=finding.program.expectations)
        run = execute(target, program, common["invariants"], common["central"], finding.seed,
                      finding.program.expectations, feedback=False)
        return key in run.signatures()

    before = len(finding.program.steps)
    if not test(finding.program.steps):
        print(f"{args.finding}: the program does not violate {finding.invariant} "
              f"({finding.signature}); nothing to minimize", file=sys.stderr)
        return 2
    small = minimize(finding.program, test)
    run = execute(target, small, common["invariants"], common["central"], finding.seed,
                  small.expectations, feedback=False)
    finding.program = small
    out = Path(args.out) if args.out else Path(args.finding).resolve().parent / "minimized"
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"--out {out}: exists and is not empty")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_parent = out.parent
    saved = save_finding(tmp_parent / ".minimize", finding, run.trace)
    if saved is None:
        raise UsageError("could not write the minimized finding")
    if out.exists():
        out.rmdir()
    os.rename(saved, out)
    (tmp_parent / ".minimize").rmdir()
    print(f"{len(small.steps)} step(s) (from {before}) still violate {finding.invariant}; "
          f"written to {out}")
    return 1
