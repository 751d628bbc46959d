"""Every fault against a real run: does it end with a valid report, quickly, with nothing left running?

For each server fault (tests/fault_server.py) it writes a small project (an `endpoint` model on a
fault server that answers the first prompt properly and throws the fault at the second, then a
healthy second model; three prompts, max_tokens 64, one repeat), runs `pytest` on it in a
subprocess with bakeoff's default request limits, and measures from the moment the server
received the faulty request to the end of the run. For SIGTERM and SIGKILL it runs the real
default model (Foundry Local, `bakeoff serve`) and sends the signal once the first prompt is in
the report. Then it prints one row per fault:

    fault, exit code, seconds from fault to end, report valid?, status, bakeoff processes left

"processes left": processes whose command line names the run's project folder (its `bakeoff
serve`, its pytest), counted when the run ended and again after up to 20 s.
Bar: every fault ends with a valid report (incomplete where it is) within 60 s of the fault.

    .venv/bin/python benchmarks/fault_matrix.py              # all faults, then the signals on the real model
    .venv/bin/python benchmarks/fault_matrix.py --only stall,hang --no-real-model
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bakeoff.errors import BakeoffError  # noqa: E402
from bakeoff.report.store import load_report  # noqa: E402
from tests.fault_server import PROMPTS, TEST, Fault, FaultServer  # noqa: E402

BAR_S = 60.0
KEY = "sk-fault-matrix-secret-0123456789"
SERVER_FAULTS = {
    "hang before headers": Fault("hang"),
    "stall after 1st token": Fault("stall"),
    "slow drip (1 token/5 s)": Fault("drip", interval=5.0),
    "endless stream": Fault("endless"),
    "cut off (no [DONE])": Fault("cutoff"),
    "garbage (not JSON)": Fault("garbage"),
    "list chunk": Fault("list_chunk"),
    "tokens 2.5": Fault("bad_tokens", value=2.5),
    'tokens "12"': Fault("bad_tokens", value="12"),
    "tokens NaN": Fault("bad_tokens", value=float("nan")),
    "tokens Infinity": Fault("bad_tokens", value=float("inf")),
    "tokens -7": Fault("bad_tokens", value=-7),
    "HTTP 401 echoing key": Fault("http_error"),
    "connection closed": Fault("refuse"),
}


def endpoint_model(name: str, url: str) -> dict:
    return {"name": name, "task": "chat", "min_ram_gb": 0, "notes": "", "runtime": "endpoint",
            "source": {"type": "openai-endpoint", "base_url": f"{url}/v1", "model": "served-model", "api_key_env": "MATRIX_KEY"}}


def write_project(folder: Path, models: list[dict] | None, prompts: str | None) -> None:
    models_json = json.dumps(models) if models is not None else (REPO / "models.json").read_text()
    (folder / "models.json").write_text(models_json)
    (folder / "prompts.yaml").write_text(prompts if prompts is not None else (REPO / "prompts.yaml").read_text())
    (folder / "test_evals.py").write_text(TEST)


def start_pytest(folder: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "MATRIX_KEY": KEY}
    return subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args], cwd=folder, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def ours(folder: Path) -> list[psutil.Process]:
    """Processes whose command line names the project folder."""
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd"]):
        try:
            if proc.pid != os.getpid() and (str(folder) in " ".join(proc.info["cmdline"] or []) or proc.info["cwd"] == str(folder)):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return [p for p in found if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def left_over(folder: Path, grace_s: float = 20.0) -> tuple[int, int]:
    at_end = len(ours(folder))
    deadline = time.monotonic() + grace_s
    while ours(folder) and time.monotonic() < deadline:
        time.sleep(0.5)
    after = ours(folder)
    waited = grace_s - max(0.0, deadline - time.monotonic())
    for proc in after:  # ours: started by this benchmark's run; leave nothing behind
        proc.kill()
    return at_end, len(after), round(waited, 1)


def verdict(folder: Path, output: str) -> tuple[str, str]:
    path = folder / "reports" / "latest.json"
    try:
        report = load_report(path)
    except BakeoffError as exc:
        return "NO", str(exc)[:60]
    texts = [output] + [p.read_text(errors="replace") for p in (folder / "reports").iterdir() if p.suffix in (".json", ".html")]
    leaked = any(KEY in text for text in texts)
    status = report.status + (f" ({report.incomplete_reason})" if report.incomplete_reason else "")
    models = ", ".join(f"{m.name}:{m.status}" for m in report.models)
    return ("yes" if not leaked else "yes, KEY LEAKED"), f"{status}; {models}"


def run_server_fault(name: str, fault: Fault) -> dict:
    with tempfile.TemporaryDirectory(prefix="fault-matrix-") as tmp, FaultServer(["ok", fault]) as faulty, FaultServer(["ok"]) as healthy:
        folder = Path(tmp)
        write_project(folder, [endpoint_model("faulty", faulty.url), endpoint_model("healthy", healthy.url)], PROMPTS)
        proc = start_pytest(folder)
        output = proc.communicate(timeout=600)[0].decode(errors="replace")
        ended = time.monotonic()
        fault_at = faulty.request_times[1] if len(faulty.request_times) > 1 else None
        valid, status = verdict(folder, output)
        line = next((l for l in output.splitlines() if "faulty: server" in l), "")
        return {"fault": name, "exit": proc.returncode, "seconds": (ended - fault_at) if fault_at else None,
                "valid": valid, "status": status, "left": left_over(folder), "line": line.strip()[:200]}


def run_signal(sig: signal.Signals) -> dict:
    with tempfile.TemporaryDirectory(prefix="fault-matrix-") as tmp:
        folder = Path(tmp)
        write_project(folder, None, None)
        proc = start_pytest(folder, "-m", "qwen2_5_coder_0_5b and foundry")
        latest = folder / "reports" / "latest.json"
        deadline = time.monotonic() + 600
        mid_run = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                data = json.loads(latest.read_text())
                if sum(len(m["prompts"]) for m in data["models"]) >= 1:
                    mid_run = load_report(latest)
                    break
            except (OSError, ValueError, BakeoffError):
                pass
            time.sleep(0.2)
        if mid_run is None:
            proc.kill()
            return {"fault": f"{sig.name} (real model)", "exit": proc.wait(), "seconds": None, "valid": "-", "status": "never answered a prompt", "left": left_over(folder)}
        time.sleep(1.0)  # inside the next request
        sent = time.monotonic()
        proc.send_signal(sig)
        output = proc.communicate(timeout=300)[0].decode(errors="replace")
        seconds = time.monotonic() - sent
        valid, status = verdict(folder, output)
        mid = f"mid-run: {mid_run.status} ({mid_run.incomplete_reason})"
        return {"fault": f"{sig.name} (real model)", "exit": proc.returncode, "seconds": seconds, "valid": valid,
                "status": f"{status}; {mid}", "left": left_over(folder)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated fault names (substrings)")
    parser.add_argument("--no-real-model", action="store_true", help="skip SIGTERM/SIGKILL on the real default model")
    args = parser.parse_args()
    rows = []
    for name, fault in SERVER_FAULTS.items():
        if args.only and not any(part in name for part in args.only.split(",")):
            continue
        rows.append(run_server_fault(name, fault))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    if not args.no_real_model:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            rows.append(run_signal(sig))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(f"{'fault':26} {'exit':>4} {'fault->end s':>12}  {'valid':5}  {'left':12}  status  (left: at the end -> after up to 20 s)")
    for row in rows:
        seconds = f"{row['seconds']:.1f}" if row["seconds"] is not None else "-"
        left = f"{row['left'][0]}->{row['left'][1]}" + (f" ({row['left'][2]:g} s)" if row["left"][0] else "")
        print(f"{row['fault']:26} {row['exit']:>4} {seconds:>12}  {row['valid']:5}  {left:12}  {row['status']}")
    bad = [r["fault"] for r in rows if r["valid"] != "yes" or r["seconds"] is None or r["seconds"] > BAR_S or r["left"][1]]
    print(f"\nbar (valid report, <= {BAR_S:.0f} s from fault to end, nothing left): " + ("met by every fault" if not bad else f"MISSED by {', '.join(bad)}"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
