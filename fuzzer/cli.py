"""The `blefuzz` command line. Exit codes: 0 no violation, 1 a violation or failed check,
2 bad usage or bad input."""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
from pathlib import Path
from typing import Any

from fuzzer import __version__
from fuzzer.engine.central import load_models
from fuzzer.engine.check import combine, run_check, run_conformance, select_suites
from fuzzer.engine.conformance import DeviceInfo
from fuzzer.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, EXIT_VIOLATION, UsageError
from fuzzer.oracles.invariants import load_invariants
from fuzzer.paths import specs_dir
from fuzzer.profiles import builtin_profiles, resolve_profile
from fuzzer.report import json_report, junit, markdown
from fuzzer.schema import SpecError
from fuzzer.targets.base import TargetError
from fuzzer.targets.emulator import EmulatorTarget
from fuzzer.trace.atomic import write_atomic
from fuzzer.trace.jsonl import write_jsonl
from fuzzer.trace.pcap import write_pcap


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 too; keep our wording
        self.print_usage(sys.stderr)
        print(f"blefuzz: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="blefuzz", description="Fuzz and conformance-check BLE pairing, link "
                "encryption and Nordic DFU against a device or the built-in emulator.")
    p.add_argument("--version", action="version", version=f"blefuzz {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("devices", help="list built-in device profiles and their flaws")
    c = sub.add_parser("check", help="run the conformance suites and the invariants")
    c.add_argument("--device", required=True, help="built-in profile name or a profile YAML")
    c.add_argument("--suite", help="comma-separated suites: story, smp, ll (default: all)")
    c.add_argument("--target", default="emulator", help="emulator (default)")
    c.add_argument("--seed", type=int, default=0, help="seed for every random choice")
    c.add_argument("--out", help="output folder (default: results/<run-id>)")
    c.add_argument("--junit", metavar="FILE", help="also write JUnit XML to FILE")
    from fuzzer import fuzzcmd

    fuzzcmd.add_parsers(sub)
    r = sub.add_parser("report", help="render report.md again from a results folder")
    r.add_argument("results_dir")
    r.add_argument("--junit", metavar="FILE", help="also write JUnit XML to FILE")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "devices":
            return _devices()
        if args.command == "check":
            return _check(args, argv if argv is not None else sys.argv[1:])
        if args.command == "report":
            return _report(Path(args.results_dir), args.junit)
        from fuzzer import fuzzcmd

        argv_list = argv if argv is not None else sys.argv[1:]
        if args.command == "fuzz":
            return fuzzcmd.fuzz(args, argv_list, _out_dir(args, Path(args.device).stem))
        if args.command == "replay":
            return fuzzcmd.replay(args)
        if args.command == "minimize":
            return fuzzcmd.minimize_cmd(args)
    except (SpecError, UsageError, TargetError) as exc:
        print(f"blefuzz: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # Ctrl-C outside a campaign, or a campaign's second one
        print("blefuzz: aborted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_USAGE


def _console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def _devices() -> int:
    from rich.table import Table

    table = Table(title="Built-in device profiles")
    table.add_column("name", no_wrap=True)
    for col in ("chip / stack", "bootloader", "bond policy", "flaws"):
        table.add_column(col)
    notes = []
    for name, path in builtin_profiles().items():
        prof = resolve_profile(str(path))
        flaws = ", ".join(sorted(prof.flaws)) or "-"
        table.add_row(name, f"{prof.chip} / {prof.stack}", prof.bootloader.kind,
                      prof.bootloader.bond_policy, flaws)
        notes.append(f"[bold]{name}[/]: {' '.join(prof.description.split())}")
        for flaw, what in prof.flaw_descriptions().items():
            notes.append(f"  flaw {flaw}: {what}")
    console = _console()
    console.print(table)
    for note in notes:
        console.print(note)
    return EXIT_OK


def _make_target(spec: str, profile, seed: int):
    if spec == "emulator":
        return EmulatorTarget(profile, seed=seed)
    kind = spec.split(":", 1)[0]
    if kind in ("hci", "gatt"):
        raise UsageError(f"--target {spec}: the {kind} back end is not available in this version;"
                         f" use --target emulator")
    raise UsageError(f"--target {spec!r}: expected emulator, hci:<transport> or gatt:<address>")


def _out_dir(args: argparse.Namespace, device: str) -> Path:
    if args.out:
        return Path(args.out)
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    base = Path("results") / f"{stamp}-{args.command}-{device}-seed{args.seed}"
    out, n = base, 1
    while out.exists():
        n += 1
        out = Path(f"{base}-{n}")
    return out


def device_info(profile) -> DeviceInfo:
    """What the conformance suites may know of a device profile: features for ``requires``
    and facts for ``$device.NAME``."""
    from fuzzer.emulator import controller
    from fuzzer.emulator.profile import BT_VERSIONS

    sec = profile.security
    version = BT_VERSIONS[profile.bluetooth_version]
    bits = controller.default_features(version)  # what the emulated controller will claim
    features = {"le_encryption"}
    if bits & controller.FEATURE_LE_PING:
        features.add("le_ping")
    if bits & controller.FEATURE_DATA_LENGTH_EXTENSION:
        features.add("data_length_extension")
    if getattr(sec, "secure_connections", False):
        features.add("secure_connections")
    if getattr(sec, "passkey", None) is not None:
        features.add("fixed_passkey")
    if sec.bonding:
        features.add("bonding")
    if not getattr(sec, "security_request", False):
        features.add("no_security_request")
    facts = {"passkey": getattr(sec, "passkey", None), "min_key_size": sec.min_key_size,
             "max_key_size": sec.max_key_size, "io_capability": sec.io_capability,
             "bluetooth_version": profile.bluetooth_version, "ll_version": version,
             "address": profile.address}
    return DeviceInfo(features, facts)


def _case_file(suite: str, case_id: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-." else "_" for c in case_id)
    return f"conformance/{suite}/{safe}"


def _check(args: argparse.Namespace, argv: list[str]) -> int:
    profile = resolve_profile(args.device)
    specs = specs_dir()
    names = [n.strip() for n in args.suite.split(",") if n.strip()] if args.suite else None
    suites, conformance = select_suites(specs, names)
    invariants = load_invariants(specs / "invariants.yaml")
    models = load_models(specs / "centrals")
    target = _make_target(args.target, profile, args.seed)
    out = _out_dir(args, profile.name)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    run = run_check(target, suites, invariants, models, seed=args.seed)
    run.conformance = conformance
    run.cases = run_conformance(conformance, lambda: _make_target(args.target, profile,
                                                                  args.seed),
                                models, device_info(profile), invariants, seed=args.seed)
    results = [json_report.conformance_result(c.to_dict(), _case_file(c.suite, c.case.id)
                                              + ".jsonl") for c in run.cases]
    for inv in invariants:
        runs = run.invariant_verdicts(inv.id)
        results.append(json_report.invariant_result(inv, combine(runs), run.steps, runs))
    files = ["report.json", "report.md", "trace.jsonl", "trace.pcap"]
    if run.cases:
        files.append("conformance/")
    report: dict[str, Any] = {
        "schema_version": json_report.SCHEMA_VERSION,
        "tool": {"name": "blefuzz", "version": __version__},
        "command": "check",
        "argv": ["blefuzz", *argv],
        "seed": args.seed,
        "device": {
            "name": profile.name, "description": " ".join(profile.description.split()),
            "chip": profile.chip, "stack": profile.stack,
            "bluetooth_version": profile.bluetooth_version,
            "bootloader": {"kind": profile.bootloader.kind,
                           "bond_policy": profile.bootloader.bond_policy},
            "source": profile.source,
        },
        "target": target.describe(),
        "suites": [{"name": s.name, "title": s.title, "kind": "story", "steps": len(s.steps)}
                   for s in run.suites]
        + [{"name": s.name, "title": s.title, "kind": "conformance", "cases": len(s.cases)}
           for s in conformance],
        "steps": run.steps,
        "results": results,
        "summary": json_report.summary(results),
        "trace": {"events": len(run.trace), "virtual_time_us": target.now_us},
        "files": files,
    }
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "trace.jsonl", run.trace.events)
    write_pcap(out / "trace.pcap", run.trace.events)
    for case in run.cases:
        base = out / _case_file(case.suite, case.case.id)
        base.parent.mkdir(parents=True, exist_ok=True)
        write_jsonl(base.with_name(base.name + ".jsonl"), case.trace.events)
        write_pcap(base.with_name(base.name + ".pcap"), case.trace.events)
    json_report.write_json(out / "report.json", report)
    write_atomic(out / "report.md", markdown.render(report))
    if args.junit:
        junit.write_junit(Path(args.junit), report)
    _print_results(report, out)
    failed = report["summary"]["fail"] + report["summary"]["error"]
    return EXIT_VIOLATION if failed else EXIT_OK


def _print_results(report: dict[str, Any], out: Path) -> None:
    from rich.table import Table

    colors = {"pass": "green", "fail": "bold red", "inconclusive": "yellow", "error": "red"}
    console = _console()
    cases = [r for r in report["results"] if r.get("kind") == "conformance"]
    if cases:
        table = Table(title=f"blefuzz check: conformance of {report['device']['name']}")
        for col in ("case", "title", "status", "what was seen"):
            table.add_column(col)
        for r in cases:
            table.add_row(r["id"], r["title"], f"[{colors[r['status']]}]{r['status']}[/]",
                          "" if r["status"] == "pass" else r["message"])
        console.print(table)
    table = Table(title=f"blefuzz check: {report['device']['name']}")
    table.add_column("invariant")
    table.add_column("status")
    table.add_column("what was seen")
    for r in report["results"]:
        if r.get("kind", "invariant") == "invariant":
            table.add_row(r["id"], f"[{colors[r['status']]}]{r['status']}[/]", r["message"])
    console.print(table)
    s = report["summary"]
    console.print(f"{s['fail']} failed, {s['pass']} passed, {s['inconclusive']} inconclusive, "
                  f"{s['error']} errors; results in {out}")


def _report(results_dir: Path, junit_file: str | None = None) -> int:
    try:
        report = json_report.read_json(results_dir / "report.json")
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if report.get("command") == "fuzz":
        from fuzzer.report import fuzz_report

        text = fuzz_report.render(report)
    else:
        text = markdown.render(report)
    write_atomic(results_dir / "report.md", text)
    if junit_file:
        junit.write_junit(Path(junit_file), report)
    print(f"rendered {results_dir / 'report.md'}")
    s = report.get("summary", {})
    return EXIT_VIOLATION if s.get("fail", 0) + s.get("error", 0) else EXIT_OK
