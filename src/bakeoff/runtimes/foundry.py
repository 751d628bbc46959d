"""Serving a model with Foundry Local's native runtime (foundry-local-sdk), on 127.0.0.1 only.

Foundry Local's web service serves only models its catalog lists. A model bakeoff compiled itself
is listed by a tiny catalog endpoint of our own, which also keeps the public catalog (and its
4.5 s of retries when offline) out of the way. A Foundry catalog model goes through the public
catalog and is downloaded on first use.

The SDK is imported only when serving, so that `unavailable_reason()` can report why it won't load.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import threading
import time
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from bakeoff.errors import BakeoffError
from bakeoff.inputs.model_sources import FoundryCatalog
from bakeoff.inputs.registry import ModelEntry
from bakeoff.runtimes.base import (
    ModelUnavailable,
    Progress,
    ReadyInfo,
    Runtime,
    progress,
)
from bakeoff.runtimes.relay import Relay
from bakeoff.weights import cache, pull

LOOPBACK = "127.0.0.1"
# Foundry Local accepts a catalog URL only if its path ends like this.
CATALOG_PATH = "/asset-gallery/v1.0/models"
# The default generation cap Foundry Local applies to a model from its catalog record.
MAX_OUTPUT_TOKENS = 2048
PROGRESS_STEP_PERCENT = 10
# The public catalog the SDK queries (https://api.catalog.azureml.ms/asset-gallery/v1.0/models).
CATALOG_HOST = "api.catalog.azureml.ms"
CATALOG_PORT = 443
CATALOG_PROBE_TIMEOUT_S = 3.0


class FoundryRuntime(Runtime):
    name = "foundry"
    display_name = "Foundry Local"
    reported_as = "foundry-local"
    source_types = (*pull.COMPILED_SOURCES, "foundry-catalog")
    pulled_sources = pull.COMPILED_SOURCES
    compiles = True
    sdk_load_seconds = 0.0

    def _why_unavailable(self) -> str | None:
        """None when Foundry Local's SDK and native runtime load, else the reason they don't."""
        started = time.perf_counter()
        try:
            import foundry_local_sdk  # noqa: F401
        except Exception as exc:  # a missing package, a native library that fails to load, ...
            return f"foundry-local-sdk does not load: {type(exc).__name__}: {exc}"
        # Loading the SDK loads the native runtime: part of the runtime's own start, not ours.
        self.sdk_load_seconds = time.perf_counter() - started
        return None

    def model_unavailable_reason(self, entry: ModelEntry) -> str | None:
        """A catalog model that is not on disk needs the public catalog: probed once per process
        (a connection to its host, a few seconds at most), not once per model by the SDK's retries
        (about 6.5 s each when offline)."""
        if not isinstance(entry.source, FoundryCatalog) or catalog_model_cached(entry.source.alias):
            return None
        unreachable = catalog_unreachable()
        if unreachable:
            return (
                f"{entry.name}: not in the local Foundry cache and the Foundry catalog is unreachable "
                f"(offline?): {unreachable}"
            )
        return None

    def needs_prepare(self, entry: ModelEntry) -> bool:
        return self.pulls(entry) and not cache.is_pulled(entry)

    def prepare(self, entry: ModelEntry, progress: Progress) -> Path | None:
        """The compiled model's directory, compiled first unless it is pulled; None for a catalog
        model, which Foundry Local downloads itself when serving."""
        if not self.pulls(entry):
            return None
        return pull.pull(entry, progress) if self.needs_prepare(entry) else cache.model_dir(entry)

    def serve(
        self, entry: ModelEntry, port: int, *, ready: Callable[[ReadyInfo], None], stop_event: threading.Event
    ) -> None:
        """Serve `entry` on http://127.0.0.1:PORT until `stop_event` is set, then unload and stop."""
        self.check_source(entry)
        from foundry_local_sdk import FoundryLocalException

        try:
            self._serve(entry, port, ready, stop_event)
        except FoundryLocalException as exc:
            raise BakeoffError(f"{entry.name}: Foundry Local: {exc}") from exc

    def _serve(
        self, entry: ModelEntry, port: int, ready: Callable[[ReadyInfo], None], stop_event: threading.Event
    ) -> None:
        with ExitStack() as cleanup:  # unwinds in reverse: stop the web service, unload, close, catalog
            started = time.perf_counter()
            manager = _start_manager(entry, cleanup)
            if self.pulls(entry):
                model = _pulled_model(manager, entry)
            else:
                model = _catalog_model(manager, entry)
                if not model.is_cached:
                    if not _download(model, stop_event):
                        return
                    started = time.perf_counter()  # the download is not the runtime's load time

            load_started = time.perf_counter()
            model.load()
            loaded = time.perf_counter()
            cleanup.callback(model.unload)
            if stop_event.is_set():  # a signal that came during the load, which defers Python's handlers
                return
            # Started after loading, so that stopping it (and with it any request in flight) comes
            # before the unload, which fails while a request still uses the model.
            manager.start_web_service()
            cleanup.callback(manager.stop_web_service)
            serving = time.perf_counter()
            foundry_url = manager.urls[0].rstrip("/")
            # Foundry Local answers only to the full id: the relay lets clients use the registry name too.
            base_url = cleanup.enter_context(Relay(foundry_url, entry.name, model.id, port)).url
            _check_listed(base_url, model.id, entry.name)
            progress(
                f"{model.id}: SDK loaded in {self.sdk_load_seconds:.2f} s, "
                f"runtime started in {load_started - started:.2f} s, model loaded in {loaded - load_started:.2f} s, "
                f"web service in {serving - loaded:.2f} s, listed in {time.perf_counter() - serving:.2f} s; "
                f"serving at {base_url} "
                f"as {model.id} or {entry.name} (Foundry Local's own web service: {foundry_url})"
            )
            import foundry_local_sdk  # loaded already; its __version__ spares importlib.metadata (40 ms)

            version = foundry_local_sdk.__version__
            load_seconds = round(self.sdk_load_seconds + serving - started, 3)
            ready(
                ReadyInfo(
                    base_url, os.getpid(), model.id, self.reported_as, version, load_seconds, measured_url=foundry_url
                )
            )
            stop_event.wait()
            progress("stopping")


def _start_manager(entry: ModelEntry, cleanup: ExitStack):
    from foundry_local_sdk import FoundryLocalManager

    source_type = entry.source.type
    if source_type in pull.COMPILED_SOURCES:  # compiled by bakeoff: pypi-gguf, or a GGUF file or HF folder you bring
        if not cache.is_pulled(entry):
            raise BakeoffError(f"{entry.name} is not pulled into {cache.cache_root()}; run `bakeoff pull {entry.name}`")
        catalog = cleanup.enter_context(CatalogEndpoint([catalog_record(entry)]))
        config = _configuration(cache.foundry_cache_dir(), [(catalog.url, None)])
    elif source_type == "foundry-catalog":
        config = _configuration(cache.catalog_models_dir(), None)
    else:
        raise BakeoffError(f"{entry.name}: the foundry runtime cannot serve a model of source type {source_type!r}")
    FoundryLocalManager.initialize(config)
    manager = FoundryLocalManager.instance
    if manager is None:
        raise BakeoffError(f"{entry.name}: Foundry Local did not start (its manager has no instance after initialize)")
    cleanup.callback(manager.close)
    return manager


def _configuration(model_cache_dir: Path, catalog_urls: list[tuple[str, str | None]] | None):
    from foundry_local_sdk import Configuration

    app_dir = cache.foundry_app_dir()
    return Configuration(
        app_name="bakeoff",
        app_data_dir=str(app_dir),
        model_cache_dir=str(model_cache_dir),
        logs_dir=str(app_dir / "logs"),
        web=Configuration.WebService(urls=f"http://{LOOPBACK}:0"),  # any free port: clients come through the relay
        catalog_urls=catalog_urls,  # None: the public Foundry catalog
        disable_nonessential_telemetry=True,
    )


def _pulled_model(manager, entry: ModelEntry):
    model = manager.catalog.get_model(entry.name)
    if model is None or not model.is_cached:
        raise BakeoffError(
            f"{entry.name}: Foundry Local does not see the pulled model in {cache.model_dir(entry)}; "
            f"pull it again (`bakeoff cache clean {entry.name}`, then `bakeoff pull {entry.name}`)"
        )
    return model


def _catalog_model(manager, entry: ModelEntry):
    assert isinstance(entry.source, FoundryCatalog)  # _start_manager refuses the others
    alias = entry.source.alias
    model = manager.catalog.get_model(alias)
    if model is not None:
        return model
    # Unreachable, the catalog lists only the models already on disk; reachable, many more.
    if any(not listed.is_cached for listed in manager.catalog.list_models()):
        raise BakeoffError(f"{entry.name}: the Foundry catalog has no model with alias {alias!r}")
    raise ModelUnavailable(
        f"{entry.name}: not in the local Foundry cache and the Foundry catalog is unreachable (offline?)"
    )


def catalog_model_cached(alias: str) -> bool:
    """Whether Foundry Local may have the catalog model `alias` on disk already: a model directory
    in its cache names that alias, or names none (then we cannot tell, and let Foundry Local decide)."""
    for path in cache.catalog_models_dir().glob("*/*/inference_model.json"):
        try:
            named = json.loads(path.read_text()).get("Alias")
        except (OSError, ValueError, AttributeError):
            return True
        if named is None or str(named).lower() == alias.lower():
            return True
    return False


@functools.cache
def catalog_unreachable() -> str | None:
    """None when the public Foundry catalog's host takes a connection, else why not; once per process."""
    outcome: list[str | None] = []

    def probe() -> None:
        try:
            socket.create_connection((CATALOG_HOST, CATALOG_PORT), timeout=CATALOG_PROBE_TIMEOUT_S).close()
            outcome.append(None)
        except OSError as exc:
            outcome.append(f"{CATALOG_HOST}: {exc.strerror or exc}")

    # Name resolution takes no timeout of its own: the probe runs in a thread we stop waiting for.
    thread = threading.Thread(target=probe, name="foundry-catalog-probe", daemon=True)
    thread.start()
    thread.join(CATALOG_PROBE_TIMEOUT_S)
    return outcome[0] if outcome else f"{CATALOG_HOST}: no answer within {CATALOG_PROBE_TIMEOUT_S:.0f} s"


def _download(model, stop_event: threading.Event) -> bool:
    """Download a catalog model with progress on stderr; False when a stop request cancelled it."""
    from foundry_local_sdk import FoundryLocalException

    progress(f"downloading {model.id} from the Foundry catalog")
    reported: float = -PROGRESS_STEP_PERCENT

    def report(percent: float) -> None:
        nonlocal reported
        if percent >= reported + PROGRESS_STEP_PERCENT:
            reported = percent // PROGRESS_STEP_PERCENT * PROGRESS_STEP_PERCENT
            progress(f"  {model.id}: {percent:.0f}%")

    started = time.perf_counter()
    try:
        model.download(report, cancel_event=stop_event)
    except FoundryLocalException:
        if stop_event.is_set():
            progress("download cancelled")
            return False
        raise
    progress(f"downloaded {model.id} in {time.perf_counter() - started:.0f} s")
    return True


def _check_listed(base_url: str, *model_ids: str) -> None:
    # The standard library's client: httpx would add its import time to every start.
    with urllib.request.urlopen(f"{base_url}/v1/models", timeout=10) as response:
        listed = [model["id"] for model in json.load(response)["data"]]
    missing = [model_id for model_id in model_ids if model_id not in listed]
    if missing:
        raise BakeoffError(
            f"Foundry Local at {base_url} loaded {model_ids[0]} but does not list {', '.join(missing)} "
            f"(lists: {listed})"
        )


# The catalog of our own


def catalog_record(entry: ModelEntry) -> dict:
    """The asset-gallery record under which Foundry Local lists (and serves) a pulled model.

    Foundry Local finds the files itself: the directory whose `inference_model.json` names
    the record's `name:version`.
    """
    model_id = cache.foundry_model_id(entry)
    name, version = model_id.rsplit(":", 1)
    registry = f"azureml://registries/{cache.PUBLISHER}/models"
    asset_id = f"{registry}/{name}/versions/{version}"
    # The manifest is written last by a pull, so its time is when the model was finished.
    compiled = datetime.fromtimestamp((cache.model_dir(entry) / cache.MANIFEST).stat().st_mtime, UTC)
    return {
        "assetId": asset_id,
        "entityId": asset_id,
        "annotations": {
            "tags": {
                "alias": entry.name,
                "task": "chat-completion",
                "foundryLocal": "",
                "supportsToolCalling": "false",
                "maxOutputTokens": str(MAX_OUTPUT_TOKENS),
            },
            "systemCatalogData": {
                "publisher": cache.PUBLISHER,
                "displayName": entry.name,
                "maxOutputTokens": MAX_OUTPUT_TOKENS,
            },
        },
        "properties": {
            "id": model_id,
            "name": name,
            "version": int(version),
            "variantInfo": {
                "parents": [{"assetId": f"{registry}/{entry.name}/versions/{version}"}],
                "variantMetadata": {"modelType": "ONNX", "device": "cpu", "executionProvider": "CPUExecutionProvider"},
            },
            "creationContext": {"createdTime": compiled.isoformat(timespec="seconds")},
        },
    }


class CatalogEndpoint:
    """An asset-gallery catalog on 127.0.0.1 that answers every query (GET or POST) with `records`.

    Use as a context manager; `url` is what goes into Foundry Local's `catalog_urls`.
    """

    def __init__(self, records: list[dict]):
        body = json.dumps({"value": records}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                # The body is Foundry Local's filter query; the records are already just ours.
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._answer()

            def _answer(self) -> None:
                if urlsplit(self.path).path != CATALOG_PATH:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format, *args) -> None:
                pass  # one line per catalog query would only clutter the server log

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.url = f"http://{LOOPBACK}:{self._server.server_port}{CATALOG_PATH}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="foundry-catalog", daemon=True)

    def __enter__(self) -> CatalogEndpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()
