"""What the sandbox costs: the time of a trivial `python_function` check, median of N runs.

The check runs `def f(x): return x + 1` once through `run_check`, as prompts.yaml would: a
fresh interpreter, the namespaces (or the fallback), the worker, the result. Prints the median,
the spread, and the protections the machine lacked (none, where namespaces are allowed).

    .venv/bin/python benchmarks/sandbox_cost.py            # 20 runs
    .venv/bin/python benchmarks/sandbox_cost.py --runs 3   # a smoke run
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

from bakeoff.decide.checks import CheckSpec, run_check

SPEC = CheckSpec("python_function", {"calls": [{"args": [1], "expect": 2}]})
ANSWER = "```python\ndef f(x):\n    return x + 1\n```"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    times, missing = [], ()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fallback's warning: its protections are printed below
        for _ in range(runs):
            started = time.perf_counter()
            outcome = run_check(SPEC, ANSWER)
            times.append(time.perf_counter() - started)
            assert outcome.passed, outcome.detail
            missing = outcome.sandbox_missing
    print(f"trivial python_function check: median {statistics.median(times) * 1000:.0f} ms over {runs} runs (min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f})")
    print(f"protections missing: {', '.join(missing) or 'none'}")


if __name__ == "__main__":
    main()
