"""Wall time of a large run, estimated from the per-request figures a report measured.

    python benchmarks/scale_estimate.py reports/latest.json --models 20 --prompts 300 --repeats 5 --machines 1 4 10

Per model x runtime in the report: its time to ready and its mean seconds per request (whole
request, first token to last). A model of the large run is assumed to cost what the measured
ones cost on average: ready + prompts x repeats x seconds per request. With W machines, one
model at a time on each, the run takes ceil(models / W) model times (plus the merge, seconds).
Only as good as the report's prompts are like the large run's (answer lengths above all).
"""

from __future__ import annotations

import argparse
import math
import statistics
from pathlib import Path

from bakeoff.report.store import load_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", type=Path)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--prompts", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--machines", type=int, nargs="+", default=[1, 4, 10])
    args = parser.parse_args()

    report = load_report(args.report)
    per_model = []
    for model in report.models:
        requests = [s.total_s for p in model.prompts for s in p.samples]
        if model.status != "ran" or not requests:
            continue
        per_request = statistics.mean(requests)
        per_model.append((model.ready_seconds or 0.0, per_request))
        print(f"{model.name} ({model.runtime}): ready {model.ready_seconds or 0:.1f} s, {len(requests)} requests, "
              f"{per_request:.2f} s per request (mean), {sum(requests):.1f} s of requests")
    if not per_model:
        raise SystemExit(f"{args.report}: no model ran")
    ready = statistics.mean(r for r, _ in per_model)
    per_request = statistics.mean(q for _, q in per_model)
    requests = args.prompts * args.repeats
    model_s = ready + requests * per_request
    print(f"one model: {ready:.1f} s ready + {requests} requests x {per_request:.2f} s = {model_s / 3600:.2f} h")
    for machines in args.machines:
        wall = math.ceil(args.models / machines) * model_s
        print(f"{args.models} models x {args.prompts} prompts x {args.repeats} repeats on {machines} machine(s): {wall / 3600:.1f} h")


if __name__ == "__main__":
    main()
