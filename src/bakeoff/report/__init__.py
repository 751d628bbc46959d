"""Storing: the run report (versioned, validated on every write and read), atomic writes, and the
human ratings that `bakeoff rate` adds to a stored report.

Never imports runtimes, measuring or showing.
"""

LATEST = "latest.json"  # beside `<run-id>.json`: the newest run's report (light: the CLI's parsers name it)
