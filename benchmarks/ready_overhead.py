"""bakeoff's own share of a model's time to ready, on the default model (Foundry Local).

Starts `bakeoff serve` the way a run does, N times, and prints the median `ready_seconds` (spawn
to ready line, measured by the parent) beside the runtime's own load time plus its first
successful health check (the serve log's "listed in"), with their ratio. Bar: at most 1.05.

    .venv/bin/python benchmarks/ready_overhead.py [--starts 5]
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
from pathlib import Path

from bakeoff import runtimes
from bakeoff.inputs.registry import find, load_registry

REGISTRY = Path(__file__).resolve().parents[1] / "models.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    args = parser.parse_args()
    entry = find(load_registry(REGISTRY), args.model, "foundry")
    runtime = runtimes.get("foundry")
    if runtime.needs_prepare(entry):
        runtime.prepare(entry, progress=print)
    ready, own = [], []
    for _ in range(args.starts):
        server = runtime.launch(entry, REGISTRY, Path(tempfile.mkdtemp()) / "serve.log")
        info = server.start()
        server.stop()
        health_check = float(re.search(r"listed in ([0-9.]+) s", server.log_path.read_text())[1])
        ready.append(info.ready_seconds)
        own.append(info.load_seconds + health_check)
    r, o = statistics.median(ready), statistics.median(own)
    print(f"ready {r:.3f} s, runtime load + first health check {o:.3f} s (medians of {args.starts}), ratio {r / o:.3f}")
    print("per start (ready / runtime):", ", ".join(f"{a:.3f}/{b:.3f}" for a, b in zip(ready, own)))


if __name__ == "__main__":
    main()
