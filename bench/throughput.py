"""Throughput benchmark: steps per second of the default campaign on the emulator, with every
invariant watching and the trace recorded, on one worker and on two; where the time goes; and
memory over a long run.

    python bench/throughput.py [--seconds 60] [--runs 3] [--memory-minutes 10]
                               [--device nrf52-reference]

A step is one tester action the device processes (a PDU, a connection, a power cycle); a
scripted procedure counts its PDUs. Traces stay in memory per program and reach disk only for
findings. Prints a Markdown table and writes it to bench/throughput.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def campaign(device: str, seconds: float, workers: int, out: Path) -> dict:
    """A campaign of ``workers`` processes confined to as many CPU cores (one worker: one core,
    its corpus writer thread included)."""
    cmd = [sys.executable, "-m", "fuzzer", "fuzz", "--device", device, "--time", str(seconds),
           "--workers", str(workers), "--seed", "1", "--out", str(out), "--quiet"]
    cores = sorted(os.sched_getaffinity(0))[:workers]
    subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=False, preexec_fn=lambda: os.sched_setaffinity(0, cores))
    return json.loads((out / "report.json").read_text())


def breakdown(device: str, seconds: float) -> dict[str, float]:
    """Share of time per part on one worker: the same programs run with and without the
    oracles, and the cost of recording events measured on its own."""
    from meter import default_campaign  # bench/meter.py

    from fuzzer.engine.campaign import Budget, fewer_collections
    from fuzzer.engine.execute import execute
    from fuzzer.trace.events import Trace

    with tempfile.TemporaryDirectory() as out:
        common, c = default_campaign(device, Path(out), Budget(seconds, None))
        c.run()
        programs = [e.program for e in list(c.corpus.entries.values())[:300]]
    target = c.target
    timing = {}
    sizes: list[int] = []  # events per program
    with fewer_collections():  # the collector set as the campaign loop sets it
        for label, invariants in (("with oracles", common["invariants"]), ("no oracles", [])):
            start, steps, events = time.perf_counter(), 0, 0
            for i, program in enumerate(programs):
                run = execute(target, program, invariants, common["central"], i,
                              common["config"].expectations)
                steps += run.steps
                events += len(run.trace)
                if invariants:
                    sizes.append(len(run.trace))
            timing[label] = (time.perf_counter() - start, steps, events)
        # recording alone: a trace per program, with as many events as the program's had
        t0 = time.perf_counter()
        for size in sizes:
            trace = Trace()
            for i in range(size):
                trace.add(i, "pdu", "tester", "att", b"\x0a\x03\x00")
        trace_s = time.perf_counter() - t0
    total, steps, events = timing["with oracles"]
    plain = timing["no oracles"][0]
    engine = c.stats.time_in["engine"] / max(1, c.stats.steps) * steps
    whole = total + engine
    return {"target (emulator + tester radio)": (plain - trace_s) / whole,
            "oracles (14 monitors)": (total - plain) / whole,
            "trace (recording events)": trace_s / whole,
            "engine (choose, mutate, feedback)": engine / whole}


def memory(device: str, minutes: float) -> list[tuple[float, float]]:
    """RSS of a one-worker campaign sampled every 10 s."""
    with tempfile.TemporaryDirectory() as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fuzzer", "fuzz", "--device", device, "--time",
             str(minutes * 60), "--seed", "2", "--out", out, "--quiet"], cwd=ROOT,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=lambda: os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:1]))
        samples = []
        start = time.monotonic()
        while proc.poll() is None:
            time.sleep(10)
            try:
                mb = rss_mb(proc.pid)
            except OSError:
                break
            if mb > 0:  # 0 once the process has exited
                samples.append((time.monotonic() - start, mb))
        report = json.loads((Path(out) / "report.json").read_text())
    return samples, report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--runs", type=int, default=3,
                    help="campaigns per worker count, interleaved (1, 2, 1, 2, ...); the "
                         "figures are their medians")
    ap.add_argument("--memory-minutes", type=float, default=10.0)
    ap.add_argument("--device", default="nrf52-reference")
    ap.add_argument("--out", default=str(ROOT / "bench" / "throughput.md"))
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    lines = [f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
             f"Python {platform.python_version()}; device {args.device}; default campaign; "
             f"{args.seconds:.0f} s per run; N workers confined to N cores; {args.runs} runs "
             f"per worker count, interleaved, medians in bold.", ""]
    runs: dict[int, list[dict]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            for workers in (1, 2):
                runs[workers].append(campaign(args.device, args.seconds, workers,
                                              Path(tmp) / f"w{workers}-{i}"))
    rates = {w: [r["stats"]["steps_per_s"] for r in rs] for w, rs in runs.items()}
    r1, r2 = statistics.median(rates[1]), statistics.median(rates[2])
    lines += ["| workers | run | steps | steps/s | transitions | corpus |",
              "| --- | --- | --- | --- | --- | --- |"]
    for workers, reports in runs.items():
        for i, report in enumerate(reports, 1):
            st = report["stats"]
            lines.append(f"| {workers} | {i} | {st['steps']} | {st['steps_per_s']:.0f} | "
                         f"{st['transitions']} | {st['corpus']} |")
        lines.append(f"| {workers} | median | | **{statistics.median(rates[workers]):.0f}** | | |")
    lines += ["", f"One worker: median {r1:.0f} steps/s (runs: "
              f"{', '.join(f'{r:.0f}' for r in rates[1])}). Two workers: median {r2:.0f} "
              f"steps/s, {r2 / r1:.2f}x one worker.", ""]
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:1])  # one core, as a worker
    parts = breakdown(args.device, min(args.seconds, 20))
    lines += ["| where the time goes (one worker) | share |", "| --- | --- |"]
    lines += [f"| {k} | {v:.0%} |" for k, v in parts.items()]
    lines.append("")
    if args.memory_minutes > 0:
        samples, report = memory(args.device, args.memory_minutes)
        window = [mb for t, mb in samples if t >= 120]
        if window:
            lo, hi = min(window), max(window)
            lines += [f"Memory (RSS) of a {args.memory_minutes:.0f}-minute one-worker campaign "
                      f"({report['stats']['steps']} steps, {report['stats']['steps_per_s']:.0f} "
                      f"steps/s): from minute 2 to the end between {lo:.1f} and {hi:.1f} MB, "
                      f"a spread of {(hi - lo) / lo:.1%}.", "",
                      "| minute | RSS MB |", "| --- | --- |"]
            lines += [f"| {t / 60:.1f} | {mb:.1f} |" for t, mb in samples[::6]]
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
