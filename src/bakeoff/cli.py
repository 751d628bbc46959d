"""The `bakeoff` command: pull, serve and cache management around the same registry pytest uses."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path

from . import cache
from .errors import BakeoffError
from .pull import pull
from .registry import find, load_registry
from .runtimes import ModelUnavailable

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bakeoff", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    def registry_option(command):
        command.add_argument("--models", type=Path, default=Path("models.json"), help="model registry (default: ./models.json)")

    pull_cmd = commands.add_parser("pull", help="download and compile a model into the cache")
    pull_cmd.add_argument("name")
    registry_option(pull_cmd)
    pull_cmd.set_defaults(handler=cmd_pull)

    serve_cmd = commands.add_parser("serve", help="serve a model on 127.0.0.1 until SIGTERM or Ctrl-C")
    serve_cmd.add_argument("name")
    serve_cmd.add_argument("--port", type=int, default=0, help="port to bind (default: a free one)")
    registry_option(serve_cmd)
    serve_cmd.set_defaults(handler=cmd_serve)

    cache_cmd = commands.add_parser("cache", help="the model cache")
    cache_actions = cache_cmd.add_subparsers(required=True, metavar="ACTION")
    cache_actions.add_parser("location", help="print the cache directory").set_defaults(handler=cmd_cache_location)
    cache_actions.add_parser("list", help="list pulled models").set_defaults(handler=cmd_cache_list)
    clean_cmd = cache_actions.add_parser("clean", help="remove one model, or the whole cache")
    clean_cmd.add_argument("name", nargs="?")
    clean_cmd.set_defaults(handler=cmd_cache_clean)
    return parser


def _progress(line: str) -> None:
    print(f"bakeoff: {line}", file=sys.stderr, flush=True)


def cmd_pull(args) -> None:
    entry = find(load_registry(args.models), args.name)
    path = pull(entry, progress=_progress)
    print(path)


def cmd_serve(args) -> int:
    from .runtimes import foundry  # the native runtime loads only for serving

    entry = find(load_registry(args.models), args.name)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    _stop_when_orphaned(stop)

    def announce(info: dict) -> None:
        print(json.dumps({"event": "ready", **info}), flush=True)

    try:
        if entry.needs_compile and not cache.is_pulled(entry):
            pull(entry, progress=_progress)
        foundry.serve(entry, port=args.port, ready=announce, stop_event=stop)
    except ModelUnavailable as exc:
        print(json.dumps({"event": "unavailable", "reason": str(exc)}), flush=True)
        return EXIT_UNAVAILABLE
    return 0


def _stop_when_orphaned(stop: threading.Event) -> None:
    """A server whose parent died (killed, crashed) stops itself instead of lingering."""
    parent = os.getppid()

    def watch():
        while not stop.wait(1.0):
            if os.getppid() != parent:
                stop.set()

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()


def cmd_cache_location(args) -> None:
    print(cache.cache_root())


def cmd_cache_list(args) -> None:
    models = cache.pulled_models()
    if not models:
        print(f"no models pulled into {cache.cache_root()}")
    for model in models:
        print(f"{model['name']:<28} {model['bytes'] / 1024**2:>8.0f} MB  {model['model_id']}  {model['path']}")


def cmd_cache_clean(args) -> None:
    removed = cache.clean(args.name)
    for path in removed:
        print(f"removed {path}")
    if not removed:
        print("nothing to remove")
