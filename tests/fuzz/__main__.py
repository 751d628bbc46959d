"""`python -m tests.fuzz`: run every fuzz case and print, per category, how many were refused in
one line with the right exit code, how many gave a traceback and how many were accepted."""

from __future__ import annotations

import collections
import os
import sys
import tempfile
from pathlib import Path

from tests.fuzz.cases import all_cases
from tests.fuzz.project import run


def main() -> int:
    rows = collections.defaultdict(collections.Counter)
    failures = []
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["BAKEOFF_CACHE"] = str(Path(scratch) / "cache")  # `cache clean` cases never reach the real cache
        for index, case in enumerate(all_cases()):
            root = Path(scratch) / str(index)
            root.mkdir()
            outcome = run(case, root)
            row = rows[case.category]
            row["cases"] += 1
            problem = outcome.problem(case)
            if outcome.traceback is not None:
                row["tracebacks"] += 1
            elif outcome.exit_code not in (2, 4):
                row["accepted"] += 1
            elif problem is None:
                row["rejected"] += 1
            else:
                row["other"] += 1
            if problem is not None:
                failures.append(f"{case.id}: {problem.splitlines()[0] if outcome.traceback is None else problem.strip().splitlines()[-1]}")
    print(f"{'category':<22}{'cases':>7}{'rejected, 1 line':>18}{'tracebacks':>12}{'accepted':>10}{'other':>7}")
    total = collections.Counter()
    for category, row in rows.items():
        total.update(row)
        print(f"{category:<22}{row['cases']:>7}{row['rejected']:>18}{row['tracebacks']:>12}{row['accepted']:>10}{row['other']:>7}")
    print(f"{'total':<22}{total['cases']:>7}{total['rejected']:>18}{total['tracebacks']:>12}{total['accepted']:>10}{total['other']:>7}")
    for line in failures:
        print(line, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
