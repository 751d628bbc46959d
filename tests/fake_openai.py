"""A stand-in OpenAI-compatible server for contract tests of the measuring client (not a model)."""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .fault_server import answer_model_list, chunk


@contextmanager
def _serving(handler):
    """Run `handler` on 127.0.0.1 in a thread; yields the server's root URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def serve_stream(
    events: list[tuple[float, dict | str]], status: int = 200, models: tuple[str, ...] = (), headers_seen: list | None = None
):
    """Serve one SSE script: each event is (seconds to wait before it, chunk dict or raw line).

    GET /v1/models lists `models`; the headers of every request go into `headers_seen` if given.
    """
    requests = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if headers_seen is not None:
                headers_seen.append(dict(self.headers))
            answer_model_list(self, models)

        def do_POST(self):
            if headers_seen is not None:
                headers_seen.append(dict(self.headers))
            requests.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(status)
            if status != 200:
                body = b'{"error": {"message": "Model not loaded"}}'
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for delay, event in events:
                time.sleep(delay)
                line = event if isinstance(event, str) else f"data: {json.dumps(event)}"
                self.wfile.write(f"{line}\n\n".encode())
                self.wfile.flush()

    with _serving(Handler) as url:
        yield url, requests


@contextmanager
def serve_answers(answer_for, model: str = "served-model"):
    """Serve chat requests with the text `answer_for(request_body)` returns, streamed a few characters
    a chunk with a usage count, as a proper server does (a stand-in: the text is written, not generated).

    Yields (url, requests): the server's root and the JSON body of every chat request."""
    requests = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            answer_model_list(self, (model,))

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            requests.append(body)
            text = answer_for(body)
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            pieces = [text[i : i + 8] for i in range(0, len(text), 8)] or [""]
            for index, piece in enumerate(pieces):
                finish = "stop" if index == len(pieces) - 1 else None
                self.wfile.write(f"data: {json.dumps(chunk(content=piece, finish=finish))}\n\n".encode())
            usage = {"prompt_tokens": 10, "completion_tokens": len(pieces)}
            self.wfile.write(f"data: {json.dumps(chunk(usage=usage))}\n\ndata: [DONE]\n\n".encode())
            self.wfile.flush()
            self.close_connection = True

    with _serving(Handler) as url:
        yield url, requests
