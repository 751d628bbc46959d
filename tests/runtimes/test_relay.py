"""The relay that lets clients call a Foundry Local model by its registry name, against stand-in servers."""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from bakeoff.runtimes.relay import Relay, add_to_listing, rewrite_model

from ..fake_openai import serve_stream
from ..fault_server import chunk

NAME, MODEL_ID = "qwen2.5-coder-0.5b", "qwen2.5-coder-0.5b-bakeoff-cpu:1"


def test_only_the_top_level_model_value_is_rewritten_byte_for_byte():
    body = b'{ "messages":[{"role":"user","content":"say \\"model\\": \\"qwen2.5-coder-0.5b\\""}],\n  "model" :  "qwen2.5-coder-0.5b", "temperature":1e-7 }'
    rewritten = rewrite_model(body, NAME, MODEL_ID)
    assert rewritten == body.replace(b':  "qwen2.5-coder-0.5b"', b':  "qwen2.5-coder-0.5b-bakeoff-cpu:1"')
    assert json.loads(rewritten)["messages"] == json.loads(body)["messages"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"model": "qwen2.5-coder-0.5b-bakeoff-cpu:1", "messages": []}',  # the id already
        b'{"model": "other", "messages": []}',  # another model: the server answers it as it would
        b'{"messages": [{"model": "qwen2.5-coder-0.5b"}]}',  # not top-level
        b"not json",
        b'["model", "qwen2.5-coder-0.5b"]',
        b'{"model": "qwen2.5-coder-0.5b"',  # truncated
        "{\"model\": \"qwen2.5-coder-0.5b\", \"x\": \"\xff\"}".encode("latin-1"),  # not UTF-8
    ],
)
def test_anything_else_passes_unchanged(body):
    assert rewrite_model(body, NAME, MODEL_ID) is body


def test_the_listing_gains_the_name_once():
    listing = json.dumps({"object": "list", "data": [{"id": MODEL_ID, "object": "model", "owned_by": "bakeoff"}]}).encode()
    data = json.loads(add_to_listing(listing, NAME, MODEL_ID))["data"]
    assert [m["id"] for m in data] == [MODEL_ID, NAME] and data[1]["owned_by"] == "bakeoff"
    assert add_to_listing(add_to_listing(listing, NAME, MODEL_ID), NAME, MODEL_ID) == add_to_listing(listing, NAME, MODEL_ID)
    assert add_to_listing(b"oops", NAME, MODEL_ID) == b"oops"


STREAM = [(0, chunk("Par")), (0.05, chunk("is")), (0, chunk(finish="stop")), (0, "data: [DONE]")]


def test_a_client_calls_the_model_by_name_and_the_stream_passes_as_it_comes():
    """Upstream answers HTTP/1.0, framed by closing the connection."""
    with serve_stream(STREAM, models=(MODEL_ID,)) as (url, requests), Relay(url, NAME, MODEL_ID) as relay:
        with httpx.Client(base_url=relay.url) as client:
            listed = [m["id"] for m in client.get("/v1/models").json()["data"]]
            events = []
            with client.stream("POST", "/v1/chat/completions", json={"model": NAME, "stream": True, "messages": []}) as response:
                for line in response.iter_lines():
                    if line:
                        events.append((time.perf_counter(), line))
            by_id = client.post("/v1/chat/completions", json={"model": MODEL_ID, "messages": []})
    assert listed == [MODEL_ID, NAME]
    assert [r["model"] for r in requests] == [MODEL_ID, MODEL_ID]
    assert [line for _, line in events] == [f"data: {json.dumps(e)}" if isinstance(e, dict) else e for _, e in STREAM]
    assert events[1][0] - events[0][0] > 0.04  # the first event came before the server sent the second
    assert by_id.status_code == 200


@contextmanager
def chunked_upstream():
    """An HTTP/1.1 keep-alive server that streams chunked SSE and lists one model."""
    seen = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            body = json.dumps({"object": "list", "data": [{"id": MODEL_ID, "object": "model"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((self.client_address, body))
            self.send_response(200 if json.loads(body)["model"] == MODEL_ID else 404)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for event in [chunk("a"), chunk("b"), "[DONE]"]:
                data = f"data: {event if isinstance(event, str) else json.dumps(event)}\n\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_keep_alive_chunked_responses_pass_in_order_on_one_connection():
    with chunked_upstream() as (url, seen), Relay(url, NAME, MODEL_ID) as relay, httpx.Client(base_url=relay.url) as client:
        answers = []
        for model in [NAME, MODEL_ID, "other", NAME]:
            response = client.post("/v1/chat/completions", json={"model": model, "stream": True, "messages": []})
            answers.append((response.status_code, response.text.count("data: ")))
        listed = [m["id"] for m in client.get("/v1/models").json()["data"]]
    assert answers == [(200, 3), (200, 3), (404, 3), (200, 3)]
    assert len({address for address, _ in seen}) == 1  # one upstream connection, kept alive
    assert listed == [MODEL_ID, NAME]


def test_a_relay_whose_upstream_is_gone_drops_the_connection_and_keeps_serving():
    with serve_stream(STREAM, models=(MODEL_ID,)) as (url, _):
        dead = "http://127.0.0.1:9"
        with Relay(dead, NAME, MODEL_ID) as relay:
            with pytest.raises(httpx.TransportError):
                httpx.get(f"{relay.url}/v1/models", timeout=5)
        with Relay(url, NAME, MODEL_ID) as relay:
            assert httpx.get(f"{relay.url}/v1/models", timeout=5).status_code == 200
