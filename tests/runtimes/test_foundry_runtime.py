"""The Foundry Local runtime: our catalog endpoint (fast), and serving the real default model (integration)."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from bakeoff.inputs.registry import default_model, load_registry
from bakeoff.runtimes import ReadyInfo, foundry
from bakeoff.weights import cache

REGISTRY = Path(__file__).resolve().parents[2] / "models.json"
READY_TIMEOUT_S = 120
STOP_TIMEOUT_S = 30


@pytest.fixture
def entry():
    return default_model(load_registry(REGISTRY))


def port_is_open(url: str) -> bool:
    host, port = httpx.URL(url).host, httpx.URL(url).port
    with socket.socket() as probe:
        return probe.connect_ex((host, port)) == 0


def test_catalog_endpoint_lists_the_pulled_model_for_get_and_post(entry, tmp_path, monkeypatch):
    monkeypatch.setenv("BAKEOFF_CACHE", str(tmp_path))
    cache.model_dir(entry).mkdir(parents=True)
    (cache.model_dir(entry) / cache.MANIFEST).write_text(json.dumps({"name": entry.name}))
    record = foundry.catalog_record(entry)

    assert record["properties"]["id"] == cache.foundry_model_id(entry)
    assert f"{record['properties']['name']}:{record['properties']['version']}" == cache.foundry_model_id(entry)
    assert record["annotations"]["tags"]["alias"] == entry.name
    assert record["annotations"]["tags"]["task"] == "chat-completion"
    assert record["annotations"]["systemCatalogData"]["publisher"] == cache.PUBLISHER
    assert record["properties"]["variantInfo"]["variantMetadata"]["device"] == "cpu"

    with foundry.CatalogEndpoint([record]) as endpoint:
        assert endpoint.url.startswith("http://127.0.0.1:") and endpoint.url.endswith("/asset-gallery/v1.0/models")
        # Foundry Local POSTs a filter query; whatever it asks, the answer is our record.
        posted = httpx.post(endpoint.url, json={"filters": [{"field": "kind", "values": ["Versioned"]}], "pageSize": 50})
        fetched = httpx.get(endpoint.url)
        elsewhere = httpx.get(endpoint.url.replace("/models", "/other"))
    assert posted.status_code == fetched.status_code == 200
    assert posted.json() == fetched.json() == {"value": [record]}
    assert elsewhere.status_code == 404
    assert not port_is_open(endpoint.url)


@pytest.mark.integration
def test_serves_the_pulled_default_model_until_stopped(default_model_pulled):
    entry = default_model_pulled
    announced: list[ReadyInfo] = []
    is_ready, stop = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def on_ready(info: ReadyInfo) -> None:
        announced.append(info)
        is_ready.set()

    def run() -> None:
        try:
            foundry.FoundryRuntime().serve(entry, 0, ready=on_ready, stop_event=stop)
        except BaseException as exc:
            failures.append(exc)
        finally:
            is_ready.set()  # also when serve failed before it was ready

    server = threading.Thread(target=run, name="foundry-serve")
    server.start()
    try:
        assert is_ready.wait(READY_TIMEOUT_S), f"not ready after {READY_TIMEOUT_S} s"
        assert not failures, failures
        [ready] = announced
        assert ready.url.startswith("http://127.0.0.1:") and ready.load_seconds > 0
        assert ready.model_id == cache.foundry_model_id(entry)
        assert ready.runtime == "foundry-local" and ready.runtime_version

        response = httpx.post(
            f"{ready.url}/v1/chat/completions",
            json={
                "model": ready.model_id,
                "messages": [{"role": "user", "content": "Write a Python function that returns the sum of two numbers."}],
                "max_tokens": 64,
            },
            timeout=120,
        )
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["choices"][0]["message"]["content"].strip()
        assert answer["usage"]["prompt_tokens"] > 0 and answer["usage"]["completion_tokens"] > 0
    finally:
        stop.set()
        server.join(STOP_TIMEOUT_S)
    assert not server.is_alive(), f"still serving {STOP_TIMEOUT_S} s after the stop request"
    assert not failures, failures
    assert not port_is_open(ready.url)


@pytest.mark.integration
def test_a_plain_openai_client_calls_the_model_by_its_registry_name(served_default_model, default_model_pulled):
    """No bakeoff code on the client side: httpx and the name from models.json, through `bakeoff serve`."""
    name = default_model_pulled.name
    with httpx.Client(base_url=f"{served_default_model.url}/v1", timeout=120) as client:
        listed = [model["id"] for model in client.get("/models").json()["data"]]
        answer = client.post(
            "/chat/completions",
            json={"model": name, "messages": [{"role": "user", "content": "What is 2 + 3? Answer with the number only."}], "max_tokens": 8},
        )
        with client.stream(
            "POST", "/chat/completions", json={"model": name, "stream": True, "max_tokens": 8, "messages": [{"role": "user", "content": "Say hi."}]}
        ) as streamed:
            events = [line for line in streamed.iter_lines() if line.startswith("data: ")]
        unknown = client.post("/chat/completions", json={"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]})
    assert name in listed and served_default_model.model_id in listed
    assert answer.status_code == 200, answer.text
    assert "5" in answer.json()["choices"][0]["message"]["content"]
    assert streamed.status_code == 200 and events[-1] == "data: [DONE]" and len(events) > 2
    assert unknown.status_code == 404  # any other name is Foundry Local's to answer, as before


def test_a_catalog_model_is_skipped_in_the_parent_with_one_probe(monkeypatch, tmp_path):
    """Offline, every catalog model not on disk is skipped with the one answer of one quick probe."""
    monkeypatch.setenv("BAKEOFF_CACHE", str(tmp_path))
    monkeypatch.setattr(foundry, "CATALOG_HOST", "catalog.invalid")  # never resolves, online or not
    foundry.catalog_unreachable.cache_clear()
    probes = []
    real_probe = foundry.socket.create_connection
    monkeypatch.setattr(foundry.socket, "create_connection", lambda *a, **k: probes.append(a) or real_probe(*a, **k))
    runtime = foundry.FoundryRuntime()
    entries = [e for e in load_registry(REGISTRY) if e.source.type == "foundry-catalog"]
    assert len(entries) >= 2
    started = time.perf_counter()
    reasons = [runtime.model_unavailable_reason(e) for e in entries]
    took = time.perf_counter() - started
    foundry.catalog_unreachable.cache_clear()
    assert len(probes) == 1 and took < foundry.CATALOG_PROBE_TIMEOUT_S + 0.5
    for entry, reason in zip(entries, reasons):
        assert reason.startswith(f"{entry.name}: not in the local Foundry cache and the Foundry catalog is unreachable (offline?): catalog.invalid")
    # A compiled model never needs the catalog.
    assert runtime.model_unavailable_reason(default_model(load_registry(REGISTRY))) is None


def test_a_catalog_model_on_disk_is_left_to_foundry_local(monkeypatch, tmp_path):
    monkeypatch.setenv("BAKEOFF_CACHE", str(tmp_path))
    monkeypatch.setattr(foundry, "catalog_unreachable", lambda: "offline")
    [phi] = [e for e in load_registry(REGISTRY) if e.name == "phi-4-mini"]
    assert foundry.FoundryRuntime().model_unavailable_reason(phi) is not None
    model_dir = cache.catalog_models_dir() / "Microsoft" / "Phi-4-mini-instruct-generic-cpu-4"
    model_dir.mkdir(parents=True)
    (model_dir / "inference_model.json").write_text(json.dumps({"Name": "Phi-4-mini-instruct-generic-cpu:4", "Alias": "phi-4-mini"}))
    assert foundry.FoundryRuntime().model_unavailable_reason(phi) is None
