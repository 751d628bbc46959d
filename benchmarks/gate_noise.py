"""False alarms and detections of the regression gates, measured side by side on this machine.

Runs `pytest evals` on the default model again and again (each run launches the model
`--launches` times), in rounds of three: two runs whose model server is slowed by a duty cycle
of SIGSTOP/SIGCONT (it runs `share` of every 20 ms, like `cpulimit`) and one normal run, then
compares each with the normal run before it:

    N0, S20(1), S10(1), N1, S20(2), S10(2), N2, ...
    N(i-1) -> N(i)     A/A: a failed gate is a false alarm
    N(i-1) -> S20(i)   A/B: a failed timing gate is a detection (the heavy slowdown, ~20% of decode speed)
    N(i-1) -> S10(i)   A/B: the same for the light one (~10%)

The slowdowns' real cost is measured, not assumed: the median decode ratio S/N over the rounds is
printed beside the detections. Thresholds must be judged on rounds they were not chosen on:

    .venv/bin/python benchmarks/gate_noise.py --rounds 25 --out runs             # measure (76 runs)
    .venv/bin/python benchmarks/gate_noise.py --calibrate runs --use-rounds 1-5  # choose the limits on 1-5
    .venv/bin/python benchmarks/gate_noise.py --validate runs --use-rounds 6-25 --limits ttft_s=0.10,decode_tokens_per_s=0.10

--calibrate picks, per timing gate, the tightest limit of a grid with at most one false alarm per
20 of the rounds given (none in fewer than 20); --validate prints false alarms, detections and
inconclusive verdicts per gate for the given limits (default: the gates in pyproject.toml).
A smoke run: --rounds 1 --prompts hello-in-five-words --repeats 2 --launches 2.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import yaml

REPO = Path(__file__).resolve().parents[1]


def reduced_prompts(ids: list[str] | None, repeats: int | None, out: Path) -> Path:
    """prompts.yaml restricted to some prompt ids and/or with another repeat count."""
    raw = yaml.safe_load((REPO / "prompts.yaml").read_text())
    if ids:
        unknown = set(ids) - {p["id"] for p in raw["prompts"]}
        if unknown:
            sys.exit(f"gate_noise: unknown prompt ids: {', '.join(sorted(unknown))}")
        raw["prompts"] = [p for p in raw["prompts"] if p["id"] in ids]
    if repeats:
        raw.setdefault("defaults", {})["repeats"] = repeats
        for prompt in raw["prompts"]:
            prompt.pop("repeats", None)
    out.write_text(yaml.safe_dump(raw, sort_keys=False))
    return out


class CpuLimit(threading.Thread):
    """Holds the model servers under `root` to a share of one CPU: SIGSTOP, wait, SIGCONT, wait."""

    def __init__(self, root: int, share: float = 0.5, period_s: float = 0.02):
        super().__init__(name="cpu-limit", daemon=True)
        self.root, self.run_s, self.stop_s = root, share * period_s, (1 - share) * period_s
        self.done = threading.Event()

    def servers(self) -> list[psutil.Process]:
        try:
            tree = psutil.Process(self.root).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        found = []
        for process in tree:
            with contextlib.suppress(psutil.Error):
                if "serve" in process.cmdline() and any("bakeoff" in part for part in process.cmdline()):
                    found.append(process)
                    found += process.children(recursive=True)
        return found

    def run(self) -> None:
        servers, refreshed = [], 0.0
        while not self.done.is_set():
            if time.monotonic() - refreshed > 0.5:  # the server starts (and restarts) during the run
                servers, refreshed = self.servers(), time.monotonic()
            self._signal(servers, "suspend")
            time.sleep(self.stop_s)
            self._signal(servers, "resume")
            time.sleep(self.run_s)

    def stop(self) -> None:
        self.done.set()
        self.join()
        self._signal(self.servers(), "resume")

    @staticmethod
    def _signal(processes: list[psutil.Process], action: str) -> None:
        for process in processes:
            with contextlib.suppress(psutil.Error):
                getattr(process, action)()


def run_suite(reports: Path, prompts: Path, share: float | None, select: str, launches: int) -> Path:
    """One `pytest evals` run into `reports`; its server held to `share` of the time (None: not slowed)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    argv = [sys.executable, "-m", "pytest", "evals", "-q", "-p", "no:cacheprovider", "-m", select,
            "--bakeoff-reports", str(reports), "--bakeoff-prompts", str(prompts), "--bakeoff-launches", str(launches)]
    started = time.monotonic()
    with subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as run:
        limit = CpuLimit(run.pid, share) if share is not None else None
        if limit:
            limit.start()
        try:
            output = run.communicate()[0]
        finally:
            if limit:
                limit.stop()
    wall = time.monotonic() - started
    reports.mkdir(parents=True, exist_ok=True)
    (reports / "pytest.log").write_text(output)
    (reports / "wall_seconds").write_text(f"{wall:.1f}\n")
    report = reports / "latest.json"
    print(f"  {reports.name}: exit {run.returncode}, {wall:.0f} s", flush=True)
    if not report.exists():
        sys.exit(f"gate_noise: no report from {reports}:\n{output[-3000:]}")
    return report


def overall_ratio(comparison, metric: str) -> float | None:
    """The model-level estimate of candidate / baseline for a metric (first model compared)."""
    for row in comparison.rows:
        if row.prompt is None and row.metric == metric and row.ratio is not None:
            return row.ratio
    return None


KINDS = {"A/A": "normal", "A/B 20%": "slow20", "A/B 10%": "slow10"}  # comparison -> the candidate runs' prefix
GRID = (0.05, 0.075, 0.10, 0.125, 0.15, 0.20, 0.25, 0.30)  # limits --calibrate tries, tightest first


def rounds_in(out: Path) -> range:
    """The rounds measured in `out` (a round's normal run ends it)."""
    return range(1, len(list(out.glob("normal-*/latest.json"))))


def comparisons(out: Path, settings, rounds: range) -> dict[str, list]:
    """Per kind, each round's comparison of the normal run before it with its candidate."""
    from bakeoff.decide.compare import compare_reports
    from bakeoff.report.store import load_report

    found = {kind: [] for kind in KINDS}
    for i in rounds:
        base = load_report(out / f"normal-{i - 1:02d}" / "latest.json")
        for kind, prefix in KINDS.items():
            candidate = out / f"{prefix}-{i:02d}" / "latest.json"
            if candidate.exists():
                found[kind].append(compare_reports(base, load_report(candidate), settings))
    return found


def with_limits(settings, limits: dict[str, float]):
    """The settings with each named timing gate's relative limit replaced."""
    from bakeoff.metrics import METRICS
    from bakeoff.inputs.settings import Gate

    gates = []
    for gate in settings.gates:
        if gate.metric in limits and gate.prompt is None:
            side = "max_increase" if METRICS[gate.metric].lower_is_better else "max_decrease"
            gate = dataclasses.replace(gate, **{side: limits[gate.metric]})
        gates.append(gate)
    missing = [m for m in limits if m not in {g.metric for g in gates}]
    for metric in missing:
        side = "max_increase" if METRICS[metric].lower_is_better else "max_decrease"
        gates.append(Gate(metric, **{side: limits[metric]}))
    return dataclasses.replace(settings, gates=tuple(gates), switch=tuple(gates))


def failed_metrics(comparison) -> set[str]:
    return {row.metric for row in comparison.failed_gates()}


def inconclusive_metrics(comparison) -> set[str]:
    """Gates the statistics could not settle (neither a detected change beyond the limit nor within it)."""
    return {row.metric for row in comparison.rows if row.gate is not None and row.gate.inconclusive}


def table(out: Path, settings, rounds: range, title: str) -> None:
    """False alarms, detections and inconclusive verdicts per gate, the median ratios and each run's wall time."""
    from bakeoff.metrics import metric_keys

    found = comparisons(out, settings, rounds)
    print(f"\n{title}: {out}, rounds {rounds.start}-{rounds.stop - 1} ({len(rounds)} rounds)")
    for gate in settings.gates:
        print(f"  gate {gate.metric}{f' ({gate.prompt})' if gate.prompt else ''}: {gate.describe()}")
    metrics = [g.metric for g in settings.gates if g.prompt is None]
    print(f"\n  {'comparison':<10} {'any gate':>9} " + " ".join(f"{m:>20}" for m in metrics) + f" {'TTFT x':>7} {'tok/s x':>7}")
    for kind, runs in found.items():
        if not runs:
            continue
        failed = [failed_metrics(c) for c in runs]
        timing = [f & set(metric_keys(per="sample", compared=True)) for f in failed]
        anything = sum(bool(f if kind == "A/A" else t) for f, t in zip(failed, timing))
        unsettled = [inconclusive_metrics(c) for c in runs]
        cells = " ".join(f"{sum(m in f for f in failed):>10}/{len(runs):<2} ({sum(m in u for u in unsettled)} inc.)" for m in metrics)
        ttft = _median([r for c in runs if (r := overall_ratio(c, "ttft_s")) is not None])
        decode = _median([r for c in runs if (r := overall_ratio(c, "decode_tokens_per_s")) is not None])
        print(f"  {kind:<10} {anything:>6}/{len(runs):<2} {cells} {_x(ttft):>7} {_x(decode):>7}")
    print("  (A/A: a failed gate is a false alarm; A/B: a failed timing gate is a detection; inc.: the gate's verdict "
          "was inconclusive, which passes it unless [tool.bakeoff] inconclusive = \"fail\"; x: median ratio "
          "candidate/baseline, so an A/B row's tok/s x is its slowdown's measured cost)")
    names = {f"{prefix}-{i:02d}" for i in rounds for prefix in KINDS.values()}
    walls = {run.name: float((run / "wall_seconds").read_text()) for run in sorted(out.iterdir())
             if run.name in names and (run / "wall_seconds").exists()}
    print("  wall time per run: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in walls.items()))


def calibrate(out: Path, settings, rounds: range) -> dict[str, float]:
    """Per timing gate, the tightest limit of GRID with at most one false alarm per 20 of these rounds."""
    allowed = len(rounds) // 20
    chosen = {}
    for gate in settings.gates:
        if gate.prompt is not None or gate.metric not in ("ttft_s", "decode_tokens_per_s"):
            continue
        for limit in GRID:
            runs = comparisons(out, with_limits(settings, {gate.metric: limit}), rounds)
            alarms = sum(gate.metric in failed_metrics(c) for c in runs["A/A"])
            if alarms <= allowed:
                chosen[gate.metric] = limit
                hits = {kind: sum(gate.metric in failed_metrics(c) for c in runs[kind]) for kind in ("A/B 20%", "A/B 10%")}
                print(f"  {gate.metric}: {limit:.1%} ({alarms} false alarms in {len(runs['A/A'])}; "
                      f"detections {hits['A/B 20%']}/{len(runs['A/B 20%'])} at 20%, {hits['A/B 10%']}/{len(runs['A/B 10%'])} at 10%)")
                break
        else:
            print(f"  {gate.metric}: no limit up to {GRID[-1]:.0%} keeps false alarms at {allowed} or fewer")
    print("validate on fresh rounds with: --limits " + ",".join(f"{m}={v:g}" for m, v in chosen.items()))
    return chosen


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20, help="rounds to run (each: slowed 20%%, slowed 10%%, normal)")
    parser.add_argument("--prompts", help="comma-separated prompt ids (default: all of prompts.yaml)")
    parser.add_argument("--repeats", type=int, help="requests per prompt (default: as in prompts.yaml)")
    parser.add_argument("--launches", type=int, default=3, help="server launches per run (--bakeoff-launches)")
    # Measured here: 0.8 cost 26% of decode speed and 0.9 cost 14% (signalling has its own cost).
    parser.add_argument("--shares", default="0.85,0.93", metavar="HEAVY,LIGHT",
                        help="share of each 20 ms the slowed server runs, for the ~20%% and ~10%% slowdowns")
    # One model, so that other runtimes installed here neither slow the rounds nor share the CPU.
    parser.add_argument("--select", default="qwen2_5_coder_0_5b and foundry",
                        help="pytest -m expression of the models to run (default: the default model on Foundry)")
    parser.add_argument("--out", type=Path, help="where the runs' reports go (default: a new temporary directory)")
    parser.add_argument("--calibrate", type=Path, metavar="DIR", help="choose the timing gates' limits on the rounds in DIR")
    parser.add_argument("--validate", type=Path, metavar="DIR", help="judge --limits (or pyproject's gates) on the rounds in DIR")
    parser.add_argument("--limits", default="", metavar="METRIC=LIMIT,...", help="relative limits for --validate, e.g. ttft_s=0.1")
    parser.add_argument("--use-rounds", metavar="FIRST-LAST", help="the rounds --calibrate or --validate reads (default: all)")
    args = parser.parse_args()

    from bakeoff.inputs.settings import load_settings

    settings = load_settings(REPO / "pyproject.toml")
    limits = {name: float(value) for name, _, value in (item.partition("=") for item in args.limits.split(",") if item)}
    measured = args.calibrate or args.validate
    if measured:
        rounds = rounds_in(measured)
        if args.use_rounds:
            first, _, last = args.use_rounds.partition("-")
            chosen = range(int(first), int(last or first) + 1)
            if chosen.stop > rounds.stop:
                sys.exit(f"gate_noise: {measured} has rounds 1-{len(rounds)}, not {args.use_rounds}")
            rounds = chosen
    if args.calibrate:
        table(args.calibrate, settings, rounds, "calibration rounds, pyproject's gates")
        print("\nchosen on these rounds:")
        calibrate(args.calibrate, settings, rounds)
        return
    if args.validate:
        table(args.validate, with_limits(settings, limits), rounds, "judged with " + (args.limits or "pyproject's gates")
              + " (a validation only on rounds the limits were not chosen on)")
        return
    heavy, light = (float(share) for share in args.shares.split(","))
    out = args.out or Path(tempfile.mkdtemp(prefix="bakeoff-gate-noise-"))
    out.mkdir(parents=True, exist_ok=True)
    prompts = reduced_prompts(args.prompts and args.prompts.split(","), args.repeats, out / "prompts.yaml")
    print(f"reports in {out}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}", flush=True)
    started = time.monotonic()
    run_suite(out / "normal-00", prompts, None, args.select, args.launches)
    for i in range(1, args.rounds + 1):
        print(f"round {i}", flush=True)
        run_suite(out / f"slow20-{i:02d}", prompts, heavy, args.select, args.launches)
        run_suite(out / f"slow10-{i:02d}", prompts, light, args.select, args.launches)
        run_suite(out / f"normal-{i:02d}", prompts, None, args.select, args.launches)
    print(f"{3 * args.rounds + 1} runs in {(time.monotonic() - started) / 60:.1f} min; "
          f"load average now {os.getloadavg()[0]:.2f}", flush=True)
    table(out, with_limits(settings, limits), rounds_in(out), "these rounds, pyproject's gates" + (f" with {args.limits}" if limits else ""))


if __name__ == "__main__":
    main()
