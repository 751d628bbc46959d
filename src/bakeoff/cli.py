"""The `bakeoff` command: pull, serve and cache management around the same registry pytest uses."""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import threading
from pathlib import Path

from bakeoff.console import progress
from bakeoff.errors import BakeoffError
from bakeoff.report import LATEST

# Each command imports what it needs: `bakeoff serve` starts every model server, and its start-up
# time counts in ready_seconds; statistics (scipy) and charts (matplotlib) load only where used.

EXIT_ERROR = 2
EXIT_UNAVAILABLE = 3


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args) or 0
    except BakeoffError as exc:
        print(f"bakeoff: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("bakeoff: interrupted", file=sys.stderr)
        return 130


class _Parser(argparse.ArgumentParser):
    """argparse that refuses bad flags in one line (`bakeoff: error: ...`, exit 2), like every other input."""

    def error(self, message: str):
        self.exit(EXIT_ERROR, f"bakeoff: error: {self.prog}: {message} (see {self.prog} --help)\n")


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise ValueError(text)
    return port


_port.__name__ = "port (0-65535)"  # what argparse's message calls the type


def _gigabytes(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(text)
    return value


_gigabytes.__name__ = "RAM size (a number of GB above 0)"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bakeoff", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    def registry_option(command):
        command.add_argument(
            "--models", type=Path, default=Path("models.json"), help="model registry (default: ./models.json)"
        )

    pull_cmd = commands.add_parser("pull", help="download and compile a model into the cache")
    pull_cmd.add_argument("name")
    registry_option(pull_cmd)
    pull_cmd.set_defaults(handler=cmd_pull)

    serve_cmd = commands.add_parser("serve", help="serve a model on 127.0.0.1 until SIGTERM or Ctrl-C")
    serve_cmd.add_argument("name")
    serve_cmd.add_argument("--port", type=_port, default=0, help="port to bind (default: a free one)")
    serve_cmd.add_argument("--runtime", help="one of the model's runtimes (default: its first)")
    # The entry as a parent bakeoff already validated and prepared it (see runtimes.process.serve_argv):
    # given, the model is served as it is, not checked or prepared again.
    serve_cmd.add_argument("--entry-json", help=argparse.SUPPRESS)
    registry_option(serve_cmd)
    serve_cmd.set_defaults(handler=cmd_serve)

    models_cmd = commands.add_parser(
        "models", help="list the registry: runtime available, pulled, size, fits RAM, markers"
    )
    registry_option(models_cmd)
    models_cmd.set_defaults(handler=cmd_models)
    commands.add_parser("ps", help="list the model servers bakeoff started that are still running").set_defaults(
        handler=cmd_ps
    )

    cache_cmd = commands.add_parser("cache", help="the model cache")
    cache_actions = cache_cmd.add_subparsers(required=True, metavar="ACTION")
    cache_actions.add_parser("location", help="print the cache directory").set_defaults(handler=cmd_cache_location)
    cache_actions.add_parser("list", help="list everything in the cache, with sizes").set_defaults(
        handler=cmd_cache_list
    )
    clean_cmd = cache_actions.add_parser(
        "clean", help="remove one model's files (compiled, GGUF, partials), or the whole cache"
    )
    clean_cmd.add_argument("name", nargs="?")
    clean_cmd.set_defaults(handler=cmd_cache_clean)
    add_comparison_commands(commands, registry_option)
    add_report_command(commands)
    merge_cmd = commands.add_parser("merge", help="merge reports of separate jobs or machines into one report")
    merge_cmd.add_argument("reports", type=Path, nargs="+", metavar="REPORT")
    merge_cmd.add_argument("-o", "--output", type=Path, required=True, metavar="OUT", help="the merged report (JSON)")
    merge_cmd.set_defaults(handler=cmd_merge)
    rate_cmd = commands.add_parser("rate", help="score a run's answers 1-5 for accuracy, clarity, completeness")
    rate_cmd.add_argument("report", type=Path, nargs="?", default=Path("reports") / LATEST)
    rate_cmd.add_argument("--rater", help="your name, stored with each rating")
    rate_cmd.set_defaults(handler=cmd_rate)
    return parser


def cmd_pull(args) -> None:
    from bakeoff import runtimes
    from bakeoff.inputs.registry import find, load_registry
    from bakeoff.weights.pull import check_pullable, compiles

    entries = load_registry(args.models)
    entry = find(entries, args.name)
    if "@" not in args.name:  # NAME alone: compile it if any of its runtimes needs that
        entry = next((e for e in entries if e.name == entry.name and compiles(e)), entry)
    path = runtimes.get(entry.runtime).prepare(entry, progress=progress)
    if path is None:
        check_pullable(entry)  # says why there is nothing to pull
    print(path)


def cmd_serve(args) -> int:
    from bakeoff import runtimes
    from bakeoff.inputs.registry import ModelEntry, find, load_registry
    from bakeoff.runtimes import ModelUnavailable, ReadyInfo, servers

    launched_by_parent = bool(args.entry_json)
    if launched_by_parent:
        try:
            entry = ModelEntry.from_fields(json.loads(args.entry_json))
        except (ValueError, TypeError, KeyError) as exc:  # only a parent bakeoff writes it: say so, in one line
            raise BakeoffError(f"--entry-json: not an entry a bakeoff wrote: {exc}") from None
    else:
        entry = find(load_registry(args.models), args.name, args.runtime)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    _stop_when_orphaned(stop)

    def announce(info: ReadyInfo) -> None:
        servers.record(entry, info)  # before the ready line, so `bakeoff ps` lists a server once it is ready
        print(json.dumps(info.event()), flush=True)

    try:
        if launched_by_parent:
            runtime = runtimes.get(entry.runtime)
        else:  # run by hand: checked and prepared as a parent does before it launches one
            from bakeoff.serving import make_servable  # here only: a launched child's start is timed

            runtime = make_servable(entry, progress=progress)
        runtime.serve(entry, args.port, ready=announce, stop_event=stop)
    except ModelUnavailable as exc:
        print(json.dumps({"event": "unavailable", "reason": str(exc)}), flush=True)
        return EXIT_UNAVAILABLE
    finally:
        servers.forget()
    return 0


def cmd_models(args) -> None:
    from bakeoff.inputs.registry import load_registry
    from bakeoff.runtimes import discovery

    lines = discovery.models_lines(discovery.model_rows(load_registry(args.models)))
    print("\n".join([*lines, "", discovery.runtimes_line()]))


def cmd_ps(args) -> None:
    from bakeoff.runtimes import discovery, servers

    print("\n".join(discovery.ps_lines(servers.running())))


def _stop_when_orphaned(stop: threading.Event) -> None:
    """A server whose parent died (killed, crashed) stops itself instead of lingering."""
    parent = os.getppid()

    def watch():
        while not stop.wait(1.0):
            if os.getppid() != parent:
                stop.set()

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()


def cmd_cache_location(args) -> None:
    from bakeoff.weights import cache

    print(cache.cache_root())


def cmd_cache_list(args) -> None:
    from bakeoff.weights import cache

    items = cache.contents()
    if not items:
        print(f"nothing in {cache.cache_root()}")
        return
    width = max(len(item.model or "-") for item in items)
    for item in items:
        print(f"{item.kind:<26} {item.model or '-':<{width}} {item.bytes / 1000**2:>9.1f} MB  {item.path}")
    print(f"{'total':<26} {'':<{width}} {sum(item.bytes for item in items) / 1000**2:>9.1f} MB  {cache.cache_root()}")


def cmd_cache_clean(args) -> None:
    from bakeoff.weights import cache

    removed = cache.clean(args.name)
    for path in removed:
        print(f"removed {path}")
    if not removed:
        known = ", ".join(cache.model_names()) or "none"
        print(f"nothing cached for {args.name} (models in the cache: {known})" if args.name else "nothing to remove")


# --- Comparing runs and gating on them (exit 0: gates held, 1: a gate failed, 2: bad input) ---


def add_comparison_commands(commands, registry_option) -> None:
    def settings_option(command):
        command.add_argument(
            "--config",
            type=Path,
            default=Path("pyproject.toml"),
            help="where [tool.bakeoff] is (default: ./pyproject.toml)",
        )
        command.add_argument("--json", action="store_true", help="print the result as JSON")

    compare_cmd = commands.add_parser("compare", help="compare a candidate report with a baseline and judge the gates")
    compare_cmd.add_argument("baseline", type=Path)
    compare_cmd.add_argument("candidate", type=Path)
    compare_cmd.add_argument("--changes-only", action="store_true", help="per prompt, show only figures that changed")
    compare_cmd.add_argument(
        "--detail", action="store_true", help="also show where the noise is: between launches or within one"
    )
    settings_option(compare_cmd)
    compare_cmd.set_defaults(handler=cmd_compare)

    baseline_cmd = commands.add_parser("baseline", help="the baseline report")
    baseline_actions = baseline_cmd.add_subparsers(required=True, metavar="ACTION")
    promote_cmd = baseline_actions.add_parser("promote", help="make a report the baseline")
    promote_cmd.add_argument("report", type=Path, nargs="?", default=Path("reports") / LATEST)
    promote_cmd.add_argument(
        "--to", type=Path, help="baseline path (default: [tool.bakeoff] baseline, else reports/baseline.json)"
    )
    promote_cmd.add_argument("--force", action="store_true", help="promote an incomplete report too")
    promote_cmd.add_argument("--config", type=Path, default=Path("pyproject.toml"))
    promote_cmd.set_defaults(handler=cmd_baseline_promote)

    gate_cmd = commands.add_parser("gate", help="may we switch from model A to model B?")
    gate_cmd.add_argument(
        "--from", dest="from_model", required=True, metavar="A", help="current model: NAME or NAME@RUNTIME"
    )
    gate_cmd.add_argument(
        "--to", dest="to_model", required=True, metavar="B", help="candidate model: NAME or NAME@RUNTIME"
    )
    gate_cmd.add_argument(
        "reports", type=Path, nargs="*", help="reports holding A and B (default: reports/latest.json)"
    )
    gate_cmd.add_argument("--ram-gb", type=_gigabytes, help="RAM of the target machine (default: that of B's report)")
    gate_cmd.add_argument(
        "--pairwise",
        metavar="JUDGE",
        help=(
            "also serve JUDGE (a models.json entry) and ask it which answer is better, A's or B's, per prompt, "
            "in both orders"
        ),
    )
    registry_option(gate_cmd)
    settings_option(gate_cmd)
    gate_cmd.set_defaults(handler=cmd_gate)

    history_cmd = commands.add_parser(
        "history", help="a series of reports (nightly runs): per model and metric, its change points"
    )
    history_cmd.add_argument(
        "reports", type=Path, nargs="+", metavar="DIR|REPORT", help="report files, or directories of them (*.json)"
    )
    history_cmd.add_argument(
        "--metric", action="append", help="only these metrics (repeatable; default: every compared one)"
    )
    history_cmd.add_argument(
        "--fail-on-last", action="store_true", help="exit 1 when the last run is a change point for the worse"
    )
    history_cmd.add_argument(
        "--html", type=Path, metavar="FILE", help="also write the series as charts on one HTML page"
    )
    settings_option(history_cmd)
    history_cmd.set_defaults(handler=cmd_history)


def cmd_compare(args) -> int:
    from bakeoff.decide.compare import compare_reports
    from bakeoff.inputs.settings import load_settings
    from bakeoff.report.store import load_report
    from bakeoff.show import comparison_table

    settings = load_settings(args.config)
    comparison = compare_reports(load_report(args.baseline), load_report(args.candidate), settings)
    if args.json:
        print(json.dumps(comparison.to_dict(), indent=2))
    else:
        print(
            "\n".join(comparison_table.comparison_lines(comparison, changes_only=args.changes_only, detail=args.detail))
        )
    return 1 if comparison.failed else 0


def cmd_baseline_promote(args) -> None:
    from bakeoff.inputs.settings import load_settings
    from bakeoff.report.store import atomic_write, load_report

    report = load_report(args.report)
    if report.status != "complete" and not args.force:
        raise BakeoffError(
            f"{args.report}: incomplete run ({report.incomplete_reason}); promote it anyway with --force"
        )
    target = args.to or load_settings(args.config).baseline
    if target.is_dir():
        raise BakeoffError(f"--to {target}: is a directory; give the baseline's file name")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, report.to_json())  # an older report version is stored as the current one
    except OSError as exc:
        raise BakeoffError(f"--to {target}: cannot write: {exc.strerror or exc}") from None
    print(f"baseline {target} is now run {report.run_id} (from {args.report})")


def cmd_gate(args) -> int:
    from bakeoff.decide.compare import compare_switch
    from bakeoff.inputs.registry import load_registry
    from bakeoff.inputs.settings import load_settings
    from bakeoff.report.store import load_report
    from bakeoff.show import comparison_table

    settings = load_settings(args.config)
    reports = [load_report(path) for path in args.reports or [Path("reports") / LATEST]]
    to_name = args.to_model.partition("@")[0]
    entry = next((e for e in load_registry(args.models) if e.name == to_name), None) if args.models.exists() else None
    try:
        switch = compare_switch(
            reports,
            args.from_model,
            args.to_model,
            settings,
            ram_gb=args.ram_gb,
            min_ram_gb=entry.min_ram_gb if entry else None,
        )
    except KeyError as exc:
        raise BakeoffError(
            f"{', '.join(map(str, args.reports or [Path('reports') / LATEST]))}: {exc.args[0]}"
        ) from None
    if args.pairwise:
        from bakeoff.judging import judge_switch

        switch.pairwise = judge_switch(reports, args.from_model, args.to_model, args.pairwise, args.models, progress)
    if args.json:
        print(json.dumps(switch.to_dict(), indent=2))
    else:
        print("\n".join(comparison_table.switch_lines(switch)))
    return 0 if switch.allowed else 1


def cmd_history(args) -> int:
    from bakeoff.decide.history import history
    from bakeoff.inputs.settings import load_settings
    from bakeoff.metrics import metric_keys
    from bakeoff.report.store import load_report
    from bakeoff.show import comparison_table

    paths = []
    for path in args.reports:
        paths += sorted(p for p in path.glob("*.json") if p.name != LATEST) if path.is_dir() else [path]
    if len(paths) < 2:
        raise BakeoffError(
            f"{', '.join(map(str, args.reports))}: a history needs at least two reports, found {len(paths)}"
        )
    gated = metric_keys(compared=True)
    unknown = [m for m in args.metric or [] if m not in gated]
    if unknown:
        raise BakeoffError(f"--metric {unknown[0]}: not a compared metric (one of {', '.join(gated)})")
    settings = load_settings(args.config)
    found = history(
        [load_report(path) for path in paths],
        metrics=args.metric,
        confidence=settings.confidence,
        min_effect=settings.min_effect,
    )
    if args.json:
        print(json.dumps([series.to_dict() for series in found], indent=2))
    else:
        print("\n".join(comparison_table.history_lines(found)))
    if args.html:
        from bakeoff.report.store import atomic_write

        try:
            atomic_write(args.html, comparison_table.history_page(found))
        except OSError as exc:
            raise BakeoffError(f"{args.html}: cannot write: {exc.strerror or exc}") from None
    return 1 if args.fail_on_last and any(series.worse_at_last for series in found) else 0


# --- Showing a stored report ---------------------------------------------------------------------


def add_report_command(commands) -> None:
    report_cmd = commands.add_parser("report", help="render a stored report as one self-contained HTML page (and CSV)")
    report_cmd.add_argument("report", type=Path, help="a report, e.g. reports/latest.json")
    report_cmd.add_argument(
        "--baseline", type=Path, metavar="BASE", help="show the comparison with this report on the page"
    )
    report_cmd.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="the page (default: the report's path with .html)"
    )
    report_cmd.add_argument("--csv", type=Path, metavar="FILE", help="also write one row per model x prompt as CSV")
    report_cmd.add_argument(
        "--config", type=Path, default=Path("pyproject.toml"), help="gates for --baseline (default: ./pyproject.toml)"
    )
    report_cmd.set_defaults(handler=cmd_report)


def cmd_report(args) -> None:
    from bakeoff.decide.compare import compare_reports
    from bakeoff.inputs.settings import load_settings
    from bakeoff.report.store import load_report
    from bakeoff.show import (
        csv_report,
        html_report,  # matplotlib loads only for this command
    )
    from bakeoff.show.summary import run_view

    report = load_report(args.report)
    comparison = None
    if args.baseline:
        comparison = compare_reports(load_report(args.baseline), report, load_settings(args.config)).to_dict()
    output = args.output or args.report.with_suffix(".html")
    view = run_view(report)
    try:
        print(html_report.save_html(view, output, comparison))
        if args.csv:
            output = args.csv
            print(csv_report.write_csv(view, args.csv))
    except OSError as exc:
        raise BakeoffError(f"{output}: cannot write: {exc.strerror or exc}") from None


def cmd_merge(args) -> None:
    from bakeoff.report.merge import merge, read_part
    from bakeoff.report.store import atomic_write

    report = merge([read_part(path) for path in args.reports])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(args.output, report.to_json())
    ran = sum(m.status == "ran" for m in report.models)
    print(
        f"{args.output}: run {report.run_id}, {len(report.models)} model(s) "
        f"from {len(args.reports)} report(s), {ran} ran"
    )
    for note in report.distribution.notes if report.distribution else ():
        print(f"note: {note}")


def cmd_rate(args) -> None:
    from bakeoff.report import ratings
    from bakeoff.report.store import load_report
    from bakeoff.show import table
    from bakeoff.show.summary import run_view

    report = load_report(args.report)
    ratings.rate_report(args.report, report, rater=args.rater)
    view = run_view(report)
    print("\n".join(table.ratings_lines(view) + table.judge_lines(view)))
