"""False alarms and detection of the regression gates, measured side by side on this machine.

Runs `pytest evals` on the default model again and again, alternating a normal run with a run
whose model server is held to a CPU limit (stopped and continued so that it runs half of every
20 ms, like `cpulimit`), then compares each run with the normal run before it, using the gates in
pyproject.toml:

    N0, S1, N1, S2, N2, ...   normal N(i-1) -> N(i): a failed gate is a false alarm
                              normal N(i-1) -> S(i): a failed timing gate is a detection

(Pinning the server to one core with os.sched_setaffinity did not slow it measurably on this
2-core machine, so the script limits its CPU time instead.)

It prints, per round and in total, the false-alarm and detection counts and the median
ratios (candidate / baseline) of TTFT and decode tokens/s over all prompts.

    .venv/bin/python benchmarks/gate_noise.py                      # full default suite, 10 rounds
    .venv/bin/python benchmarks/gate_noise.py --rounds 10 --prompts hello-in-five-words,arithmetic-7x6 --repeats 3
    .venv/bin/python benchmarks/gate_noise.py --analyse-only DIR   # recompute from the reports of a past run
"""

from __future__ import annotations

import argparse
import contextlib
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


def run_suite(reports: Path, prompts: Path, slowed: bool, select: str) -> Path:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    argv = [sys.executable, "-m", "pytest", "evals", "-q", "-p", "no:cacheprovider", "-m", select,
            "--bakeoff-reports", str(reports), "--bakeoff-prompts", str(prompts)]
    started = time.monotonic()
    with subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as run:
        limit = CpuLimit(run.pid) if slowed else None
        if limit:
            limit.start()
        try:
            output = run.communicate()[0]
        finally:
            if limit:
                limit.stop()
    reports.mkdir(parents=True, exist_ok=True)
    (reports / "pytest.log").write_text(output)
    report = reports / "latest.json"
    print(f"  {'slowed' if slowed else 'normal'} run -> {reports.name}: exit {run.returncode}, "
          f"{time.monotonic() - started:.0f} s", flush=True)
    if not report.exists():
        sys.exit(f"gate_noise: no report from {reports}:\n{output[-3000:]}")
    return report


def overall_ratio(comparison, metric: str) -> float | None:
    """The model-level estimate of candidate / baseline for a metric (first model compared)."""
    for row in comparison.rows:
        if row.prompt is None and row.metric == metric and row.ratio is not None:
            return row.ratio
    return None


def analyse(out: Path, rounds: int) -> None:
    from bakeoff.decide.compare import compare_reports
    from bakeoff.decide.metrics import TIMING_METRICS
    from bakeoff.inputs.settings import load_settings
    from bakeoff.report.store import load_report

    settings = load_settings(REPO / "pyproject.toml")
    false_alarms, detections = 0, 0
    quiet_ttft, quiet_decode, slow_ttft, slow_decode = [], [], [], []
    print(f"\n{'round':>5}  {'N->N gates':<24} {'TTFT x':>7} {'tok/s x':>7}   {'N->S timing gates':<30} {'TTFT x':>7} {'tok/s x':>7}")
    for i in range(1, rounds + 1):
        base = load_report(out / f"normal-{i - 1:02d}" / "latest.json")
        quiet = compare_reports(base, load_report(out / f"normal-{i:02d}" / "latest.json"), settings)
        slow = compare_reports(base, load_report(out / f"slowed-{i:02d}" / "latest.json"), settings)
        quiet_failed = [g for g in quiet.failed_gates()]
        slow_failed = [g for g in slow.failed_gates() if g.metric in TIMING_METRICS]
        false_alarms += bool(quiet_failed)
        detections += bool(slow_failed)
        figures = [overall_ratio(quiet, "ttft_s"), overall_ratio(quiet, "decode_tokens_per_s"),
                   overall_ratio(slow, "ttft_s"), overall_ratio(slow, "decode_tokens_per_s")]
        for bucket, value in zip((quiet_ttft, quiet_decode, slow_ttft, slow_decode), figures):
            if value is not None:
                bucket.append(value)
        quiet_text = ", ".join(sorted({g.metric for g in quiet_failed})) or "pass"
        slow_text = ", ".join(sorted({g.metric for g in slow_failed})) or "pass (missed)"
        print(f"{i:>5}  {quiet_text:<24} {_x(figures[0]):>7} {_x(figures[1]):>7}   {slow_text:<30} {_x(figures[2]):>7} {_x(figures[3]):>7}")
    print(f"\nfalse alarms (a gate failed, nothing changed): {false_alarms} of {rounds}")
    print(f"detections (a timing gate failed, server held to half a CPU): {detections} of {rounds}")
    print(f"median ratio candidate/baseline, normal vs normal: TTFT {_x(_median(quiet_ttft))}, decode tok/s {_x(_median(quiet_decode))}")
    print(f"median ratio candidate/baseline, slowed vs normal: TTFT {_x(_median(slow_ttft))}, decode tok/s {_x(_median(slow_decode))}")


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--prompts", help="comma-separated prompt ids (default: all of prompts.yaml)")
    parser.add_argument("--repeats", type=int, help="requests per prompt (default: as in prompts.yaml)")
    # One model, so that other runtimes installed here neither slow the rounds nor share the CPU.
    parser.add_argument("--select", default="qwen2_5_coder_0_5b and foundry",
                        help="pytest -m expression of the models to run (default: the default model on Foundry)")
    parser.add_argument("--out", type=Path, help="where the runs' reports go (default: a new temporary directory)")
    parser.add_argument("--analyse-only", type=Path, metavar="DIR", help="only compare the reports already in DIR")
    args = parser.parse_args()

    if args.analyse_only:
        rounds = len(list(args.analyse_only.glob("slowed-*")))
        analyse(args.analyse_only, rounds)
        return
    out = args.out or Path(tempfile.mkdtemp(prefix="bakeoff-gate-noise-"))
    out.mkdir(parents=True, exist_ok=True)
    prompts = reduced_prompts(args.prompts and args.prompts.split(","), args.repeats, out / "prompts.yaml")
    print(f"reports in {out}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}", flush=True)
    started = time.monotonic()
    run_suite(out / "normal-00", prompts, slowed=False, select=args.select)
    for i in range(1, args.rounds + 1):
        print(f"round {i}", flush=True)
        run_suite(out / f"slowed-{i:02d}", prompts, slowed=True, select=args.select)
        run_suite(out / f"normal-{i:02d}", prompts, slowed=False, select=args.select)
    print(f"{2 * args.rounds + 1} runs in {(time.monotonic() - started) / 60:.1f} min; "
          f"load average now {os.getloadavg()[0]:.2f}", flush=True)
    analyse(out, args.rounds)


if __name__ == "__main__":
    main()
