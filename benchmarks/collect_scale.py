"""How long `pytest evals --collect-only` takes for a registry of 1,000, 5,000 and 10,000 models.

Each size is a scratch project: N endpoint models (nothing to download or start), one prompt (so
one test per model: the registry's cost, not the prompts') and the repository's evals test; the
time is the whole `pytest --collect-only -q` subprocess, start-up included: wall-clock seconds and
the CPU seconds it used (user + system), which a busy machine does not inflate. The bar (issue 12):
10,000 models in under 10 s.

    python benchmarks/collect_scale.py              # 1000 5000 10000
    python benchmarks/collect_scale.py 200 400      # a quick smoke run
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROMPTS = "prompts:\n  - id: hello\n    text: Say hello.\n    checks:\n      - contains_any: [hello, hi]\n"


def registry(count: int) -> list[dict]:
    return [
        {
            "name": f"model-{index}",
            "task": "chat",
            "min_ram_gb": 1,
            "notes": "a stand-in entry for the scale benchmark",
            "family": f"family{index % 50}",
            "runtime": "endpoint",
            "source": {"type": "openai-endpoint", "base_url": "http://127.0.0.1:9/v1", "model": f"m{index}"},
            "default": index == 0,
        }
        for index in range(count)
    ]


def collect_seconds(count: int, scratch: Path) -> tuple[float, float, int]:
    project = scratch / f"models-{count}"
    (project / "evals").mkdir(parents=True)
    (project / "models.json").write_text(json.dumps(registry(count)))
    (project / "prompts.yaml").write_text(PROMPTS)
    shutil.copy(REPO / "evals" / "test_prompts.py", project / "evals" / "test_prompts.py")
    (project / "pyproject.toml").write_text('[project]\nname = "scale"\n')
    cpu_before = _children_cpu()
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "evals", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=project, capture_output=True, text=True,
    )
    seconds = time.perf_counter() - started
    cpu = _children_cpu() - cpu_before
    if result.returncode != 0:
        raise SystemExit(f"collection of {count} models failed (exit {result.returncode}): {result.stdout[-2000:]}{result.stderr[-2000:]}")
    collected = sum("::" in line for line in result.stdout.splitlines())
    return seconds, cpu, collected


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(counts: list[int]) -> None:
    print(f"{'models':>8} {'tests':>8} {'wall s':>8} {'CPU s':>8}")
    with tempfile.TemporaryDirectory() as scratch:
        for count in counts:
            seconds, cpu, collected = collect_seconds(count, Path(scratch))
            print(f"{count:>8} {collected:>8} {seconds:>8.2f} {cpu:>8.2f}", flush=True)


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [1000, 5000, 10000])
