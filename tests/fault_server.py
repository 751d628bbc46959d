"""A fault-injecting stand-in for an OpenAI-compatible server (not a model), driven by a script.

Each POST /v1/chat/completions takes the next fault of the script (the last one repeats); GET
/v1/models lists the model, so an `endpoint` entry pointing here starts like a real server. The
faults are what servers were seen to do:

    ok            a proper answer ("Paris."), finish_reason, usage, [DONE]
    stall         headers and the first token, then silence
    drip          one token every `interval` seconds, for ever
    endless       tokens as fast as it can, ignoring max_tokens, for ever
    cutoff        a few tokens, then the connection closes: no finish_reason, no [DONE]
    garbage       a chunk that is not JSON
    list_chunk    a chunk that is a JSON list, not an object
    bad_tokens    a proper answer whose usage.completion_tokens is `value` (2.5, "12", NaN, -7, ...)
    hang          reads the request and never answers, not even headers
    http_error    401 with a body that echoes the request's Authorization header
    refuse        closes the connection without a word

Run it on its own (`python tests/fault_server.py stall [--interval S]`): it prints its URL and
serves until killed. `benchmarks/fault_matrix.py` does that for each fault.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "served-model"
# A project whose second prompt meets the fault: what tests/test_faults.py and
# benchmarks/fault_matrix.py run with `pytest evals`.
PROMPTS = """
defaults: {repeats: 1, max_tokens: 64}
prompts:
  - {id: first, text: 'Capital of France?', checks: [{contains: Paris}]}
  - {id: second, text: 'Capital of France, again?', checks: [{contains: Paris}]}
  - {id: third, text: 'And once more?', checks: [{contains: Paris}]}
"""
TEST = "def test_prompt(model, prompt, evaluate):\n    assert evaluate(model, prompt).passed\n"

FAULTS = ("ok", "stall", "drip", "endless", "cutoff", "garbage", "list_chunk", "bad_tokens", "hang", "http_error", "refuse")


def chunk(content=None, finish=None, usage=None) -> dict:
    body = {"object": "chat.completion.chunk", "choices": []}
    if content is not None or finish is not None:
        body["choices"] = [{"index": 0, "delta": {"content": content} if content is not None else {}, "finish_reason": finish}]
    if usage is not None:
        body["usage"] = usage
    return body


def answer_model_list(handler: BaseHTTPRequestHandler, models) -> None:
    """`GET /v1/models` as an OpenAI-compatible server answers it; any other path is 404."""
    body = json.dumps({"object": "list", "data": [{"id": m, "object": "model"} for m in models]}).encode()
    handler.send_response(200 if handler.path == "/v1/models" else 404)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@dataclass
class Fault:
    kind: str
    interval: float = 1.0  # drip: seconds between tokens
    value: object = 2  # bad_tokens: what usage.completion_tokens says

    def __post_init__(self):
        if self.kind not in FAULTS:
            raise ValueError(f"unknown fault {self.kind!r}; known: {', '.join(FAULTS)}")


@dataclass
class FaultServer:
    """`with FaultServer(["ok", "stall"]) as server:` serves on 127.0.0.1 at `server.url`."""

    script: list
    models: tuple[str, ...] = (MODEL,)
    requests: list = field(default_factory=list)  # the JSON bodies of the chat requests
    headers_seen: list = field(default_factory=list)  # the headers of every request
    request_times: list = field(default_factory=list)  # time.monotonic() at each chat request

    def __post_init__(self):
        self.script = [f if isinstance(f, Fault) else Fault(f) for f in self.script]
        self.closing = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def next_fault(self) -> Fault:
        with self._lock:
            return self.script[min(len(self.requests) - 1, len(self.script) - 1)]

    def __enter__(self) -> FaultServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.closing.set()  # lets handlers that stall or hang end
        self._server.shutdown()
        self._server.server_close()


def _handler(owner: FaultServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            owner.headers_seen.append(dict(self.headers))
            answer_model_list(self, owner.models)

        def do_POST(self):
            owner.headers_seen.append(dict(self.headers))
            with owner._lock:
                owner.requests.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                owner.request_times.append(time.monotonic())
            fault = owner.next_fault()
            try:
                getattr(self, f"fault_{fault.kind}")(fault)
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                pass  # the client gave up on us: what a client should do
            self.close_connection = True

        # --- the faults ---

        def start_stream(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")  # the body ends when the connection does
            self.end_headers()

        def event(self, data) -> None:
            line = data if isinstance(data, str) else json.dumps(data)
            self.wfile.write(f"data: {line}\n\n".encode())
            self.wfile.flush()

        def answer(self, usage: dict) -> None:
            self.event(chunk(content=""))
            self.event(chunk(content="Paris"))
            self.event(chunk(content=".", finish="stop"))
            self.event(json.dumps(chunk(usage=usage)))  # json.dumps writes NaN and Infinity as such
            self.event("[DONE]")

        def fault_ok(self, fault):
            self.start_stream()
            self.answer({"prompt_tokens": 5, "completion_tokens": 2})

        def fault_bad_tokens(self, fault):
            self.start_stream()
            self.answer({"prompt_tokens": 5, "completion_tokens": fault.value})

        def fault_stall(self, fault):
            self.start_stream()
            self.event(chunk(content="Paris"))
            owner.closing.wait()

        def fault_drip(self, fault):
            self.start_stream()
            while not owner.closing.is_set():
                self.event(chunk(content=" word"))
                owner.closing.wait(fault.interval)

        def fault_endless(self, fault):
            self.start_stream()
            while not owner.closing.is_set():
                self.event(chunk(content=" and on"))

        def fault_cutoff(self, fault):
            self.start_stream()
            for word in ("The", " capital", " is"):
                self.event(chunk(content=word))

        def fault_garbage(self, fault):
            self.start_stream()
            self.event(chunk(content="Paris"))
            self.event("{'choices': [{'delta': {'content': 'x'}}]}  <html>502 Bad Gateway</html>")

        def fault_list_chunk(self, fault):
            self.start_stream()
            self.event([{"delta": {"content": "Paris"}}])

        def fault_hang(self, fault):
            owner.closing.wait()

        def fault_http_error(self, fault):
            echoed = {"error": {"message": f"invalid credentials: Authorization: {self.headers.get('Authorization')}"}}
            body = json.dumps(echoed).encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def fault_refuse(self, fault):
            pass  # close_connection: the socket closes with nothing sent

    return Handler


def _value(text: str) -> object:
    """A bad_tokens value from the command line: JSON (2.5, "12", NaN, -7) or else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="serve one fault (after `--ok N` proper answers) until killed")
    parser.add_argument("fault", choices=FAULTS)
    parser.add_argument("--ok", type=int, default=0, help="proper answers before the fault")
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--value", type=_value, default=2.5)
    args = parser.parse_args()
    script = ["ok"] * args.ok + [Fault(args.fault, interval=args.interval, value=args.value)]
    with FaultServer(script) as server:
        print(server.url, flush=True)
        threading.Event().wait()
