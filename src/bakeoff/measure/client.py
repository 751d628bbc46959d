"""Measuring one chat request: a streamed call to an OpenAI-compatible endpoint, timed per chunk.

Everything a server sends is checked here, at the boundary, before it becomes a figure: a count
that is not a whole number >= 0 (2.5, "12", NaN, Infinity, -7), a chunk that is not the shape the
protocol gives, garbage that is not JSON, an error in the stream, a stream cut off before
`[DONE]`. Each fails that request with a `ServerFault` naming the server and what it sent
(shortened, secrets redacted), so a bad value never reaches the report.

Every request is bounded in time and size (`Limits`): the first token within an allowance that
grows with the prompt, then at most `stall_s` of silence between events, the whole answer within
`max_tokens` at the slowest accepted decode speed, and no more output than a multiple of
`max_tokens`. A watchdog thread cuts the connection when a limit passes, so a hung server costs
the allowance, not the network timeout, and a server that never stops is stopped.

The clock is kept as close to the wire as the client can: it starts when the request's last byte
is written to the socket (httpcore's trace of the request body), and each piece of the stream is
stamped as its bytes come off the socket, before any SSE or JSON parsing
(benchmarks/clock_vs_wire.py compares it with a packet capture).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import socket
import statistics
import threading
import time
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import httpx
from httpx_sse import SSEError, connect_sse

from bakeoff.console import shorten
from bakeoff.errors import BakeoffError
from bakeoff.measure.redact import redact


@dataclass
class Sample:
    """What one streamed request measured. Times are seconds from sending the request.

    A per-sample metric is a row of `bakeoff.metrics.METRICS` that reads its value from
    these fields; a figure the client measures beyond them goes in `figures` under its metric's
    key, and is stored in the report beside the fields."""

    response: str
    ttft_s: float
    total_s: float
    output_tokens: int
    prompt_tokens: int | None
    tokens_counted_by: str  # "server usage" or "stream chunks" when the server sent no usage
    decode_tokens_per_s: float | None
    itl_p50_s: float | None
    itl_p95_s: float | None
    finish_reason: str | None
    # The server's own figures when it sends them (llama-server's `timings`: prompt_ms,
    # predicted_per_second, ...), kept beside ours as an independent measurement.
    server_timings: dict | None = None
    launch: int | None = None  # which server launch of the run it ran in (stamped by the workload)
    cold: bool = False  # the first request after that launch's load
    figures: dict[str, float] = field(default_factory=dict)  # measured figures of metrics without a field here
    request_id: str | None = None  # which planned request it answers (the workload's); not stored

    def to_dict(self) -> dict:
        """What a report stores of it: its fields, and its measured figures beside them."""
        stored = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("figures", "request_id")}
        return {**stored, **self.figures}


def percentile(values: list[float], pct: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


class ServerFault(BakeoffError):
    """The server did not answer a request properly; the message names the server and what it did.

    `unresponsive`: it stopped answering (no first token in time, a stall, a deadline passed, the
    connection refused): the next request would most likely wait as long, so a run gives up on the
    model rather than pay that for every prompt."""

    def __init__(self, message: str, *, unresponsive: bool = False):
        super().__init__(message)
        self.unresponsive = unresponsive


# A token is rarely more than a few characters; 64 allows long runs of spaces or symbols.
MAX_CHARS_PER_TOKEN = 64
# Bytes on the wire per streamed token: the JSON of a chunk around it (Foundry Local sends ~250).
MAX_BYTES_PER_TOKEN = 1024
# Characters per token when estimating a prompt's tokens from its text: low, so the estimate is high.
CHARS_PER_PROMPT_TOKEN = 3


@dataclass(frozen=True)
class Limits:
    """How long a request may take and how much it may send before it fails.

    The defaults leave a wide margin on a slow machine: on 2 cores the default model decodes about
    25 tokens/s, answers a short prompt's first token in under 1 s and a 1000-token prompt's in
    about 10 s; a 1.5B model decodes about 10 tokens/s."""

    first_token_s: float = 30.0  # the first token of a short prompt (headers included)
    prefill_tokens_per_s: float = 20.0  # slowest prompt processing accepted: the allowance grows with the prompt
    decode_tokens_per_s: float = 2.0  # slowest decoding accepted: after the first token, max_tokens at this speed
    decode_slack_s: float = 5.0  # added to that
    stall_s: float = 20.0  # longest silence between two events once the answer has begun
    length_factor: float = 2.0  # output cap: this many times max_tokens, in chunks and usage tokens (+16)
    connect_s: float = 10.0
    max_request_s: float | None = None  # an absolute cap on one request, whatever the above allow
    default_max_tokens: int = 2048  # what the budget assumes for a request that names no max_tokens

    def __post_init__(self):
        for limit in fields(self):
            value = getattr(self, limit.name)
            if value is not None and not (
                isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
            ):
                raise BakeoffError(f"request limit {limit.name} must be a number above 0, not {value!r}")

    def first_token_allowance(self, messages: list[dict]) -> float:
        characters = sum(
            len(m.get("content") or "") if isinstance(m.get("content"), str) else len(json.dumps(m.get("content")))
            for m in messages
        )
        return self.first_token_s + characters / CHARS_PER_PROMPT_TOKEN / self.prefill_tokens_per_s

    def decode_allowance(self, max_tokens: int) -> float:
        return self.decode_slack_s + max_tokens / self.decode_tokens_per_s

    def output_cap(self, max_tokens: int) -> int:
        return int(self.length_factor * max_tokens) + 16

    @classmethod
    def parse(cls, items: list[str], base: Limits | None = None) -> Limits:
        """Limits from `NAME=VALUE` strings (the plugin's --bakeoff-limit), over `base` where given."""
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}  # int or float per field; Limits checks each value itself
        for item in items:
            name, _, value = item.partition("=")
            name = name.strip().replace("-", "_")
            if name not in known or not value:
                raise BakeoffError(f"--bakeoff-limit {item!r}: expected NAME=NUMBER, NAME one of {', '.join(known)}")
            try:
                values[name] = int(value) if name == "default_max_tokens" else float(value)
            except ValueError:
                raise BakeoffError(f"--bakeoff-limit {item!r}: {value!r} is not a number") from None
        try:
            return replace(base, **values) if base is not None else cls(**values)
        except BakeoffError as exc:
            raise BakeoffError(f"--bakeoff-limit: {exc}") from None


class _Clock:
    """When the request went out and when each read of its answer came in (perf_counter seconds).

    `sent` is taken from httpcore's trace when the request body is written (until then, and with a
    transport that traces nothing, it is the moment the request was handed to httpx)."""

    def __init__(self):
        self.sent = time.perf_counter()
        self.arrived = self.sent  # the latest read of the answer

    def trace(self, event: str, info: dict) -> None:
        if event == "http11.send_request_body.complete":
            self.sent = time.perf_counter()

    def stamped(self, stream: httpx.SyncByteStream | httpx.AsyncByteStream) -> httpx.SyncByteStream:
        if not isinstance(stream, httpx.SyncByteStream):  # the client is synchronous: so are its responses
            raise TypeError(f"expected a synchronous response stream, got {type(stream).__name__}")
        return _StampedStream(stream, self)


class _StampedStream(httpx.SyncByteStream):
    """The answer's bytes as they come off the socket, each read stamped before it is parsed."""

    def __init__(self, inner: httpx.SyncByteStream, clock: _Clock):
        self.inner, self.clock = inner, clock

    def __iter__(self):
        for chunk in self.inner:
            self.clock.arrived = time.perf_counter()
            yield chunk

    def close(self) -> None:
        self.inner.close()


class _Watchdog:
    """Cuts the request's connection when it runs past its current deadline or size; `reason` says which."""

    TICK_S = 0.1

    def __init__(self, byte_cap: int):
        self.byte_cap = byte_cap
        self.limit = (math.inf, "")  # (perf_counter deadline, what passing it means), replaced whole
        self.reason: str | None = None
        self.response: httpx.Response | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bakeoff-request-watchdog", daemon=True)

    def __enter__(self) -> _Watchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.TICK_S):
            deadline, why = self.limit
            response = self.response
            if time.perf_counter() >= deadline:
                self.reason = why
            elif response is not None and response.num_bytes_downloaded > self.byte_cap:
                self.reason = f"sent more than {self.byte_cap} bytes, far past max_tokens; stopped reading"
            if self.reason:
                self._cut()
                return

    def _cut(self) -> None:
        """Shut the socket down: a read blocked on it returns at once, in the requesting thread."""
        stream = self.response.extensions.get("network_stream") if self.response is not None else None
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class ChatClient:
    """Streams chat requests to one model. `transport` replaces the network (httpx.MockTransport
    in protocol tests); timings then measure only the client's own work. `limits` bounds every
    request (see `Limits`); `timeout_s`, if given, caps a request's whole time."""

    def __init__(
        self,
        base_url: str,
        model_id: str,
        *,
        api_key: str | None = None,
        limits: Limits | None = None,
        timeout_s: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        self.model_id = model_id
        self.limits = limits or Limits()
        if timeout_s is not None:
            self.limits = Limits(**{**asdict(self.limits), "max_request_s": timeout_s})
        self._secrets = (api_key,)
        self.where = str(base_url).rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        self._http = httpx.Client(base_url=base_url, headers=headers, transport=transport)

    def close(self) -> None:
        self._http.close()

    def _fault(self, what: str, *, unresponsive: bool = False) -> ServerFault:
        return ServerFault(
            redact(f"server {self.where} (model {self.model_id}): {what}", self._secrets), unresponsive=unresponsive
        )

    def chat(self, messages: list[dict], **options) -> Sample:
        body = {
            "model": self.model_id,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            **options,
        }
        limits = self.limits
        max_tokens = options.get("max_tokens") or options.get("max_completion_tokens") or limits.default_max_tokens
        cap = limits.output_cap(max_tokens)
        first_allowance = limits.first_token_allowance(messages)
        hard_cap = limits.max_request_s or math.inf
        stream = _Stream(self, cap)
        clock = _Clock()
        with _Watchdog(byte_cap=cap * MAX_BYTES_PER_TOKEN + 2**20) as watch:
            start = clock.sent
            if first_allowance < hard_cap:
                watch.limit = (start + first_allowance, f"sent no first token within {first_allowance:.3g} s")
            else:
                watch.limit = (start + hard_cap, f"did not finish within {hard_cap:.3g} s (max_request_s)")
            read_timeout = min(
                first_allowance, hard_cap
            )  # bounds the wait for headers, before the watchdog has a socket to cut
            timeout = httpx.Timeout(read_timeout, connect=limits.connect_s)
            try:
                with connect_sse(
                    self._http,
                    "POST",
                    "/v1/chat/completions",
                    json=body,
                    timeout=timeout,
                    extensions={"trace": clock.trace},
                ) as events:
                    watch.response = events.response
                    events.response.stream = clock.stamped(events.response.stream)
                    if events.response.status_code != 200:
                        events.response.read()
                        raise self._fault(
                            f"answered {events.response.status_code}: {shorten(events.response.text, 300)}"
                        )
                    for event in events.iter_sse():
                        now = clock.arrived - clock.sent  # the bytes of this event came in then
                        if stream.feed(event.data, now):
                            break
                        if stream.token_times:
                            first = stream.token_times[0]
                            watch.limit = min(
                                (
                                    clock.arrived + limits.stall_s,
                                    (
                                        f"stalled: sent nothing for {limits.stall_s:g} s "
                                        f"after {len(stream.token_times)} tokens"
                                    ),
                                ),
                                (
                                    clock.sent + first + limits.decode_allowance(max_tokens),
                                    (
                                        f"did not finish {max_tokens} tokens "
                                        f"within {limits.decode_allowance(max_tokens):.3g} s of its first token "
                                        f"(slower than {limits.decode_tokens_per_s:g} tokens/s)"
                                    ),
                                ),
                                (start + hard_cap, f"did not finish within {hard_cap:.3g} s (max_request_s)"),
                            )
            except ServerFault:
                if watch.reason:
                    raise self._fault(watch.reason, unresponsive=True) from None
                raise
            except SSEError as exc:
                raise self._fault(f"answered with something other than an event stream: {exc}") from None
            except httpx.HTTPError as exc:
                if watch.reason:
                    raise self._fault(watch.reason, unresponsive=True) from None
                raise self._transport_fault(exc, read_timeout, stream, answered=watch.response is not None) from None
            if watch.reason:  # the cut ended a stream without a length: the same as a timeout
                raise self._fault(watch.reason, unresponsive=True)
        return stream.sample(clock.sent)

    def _transport_fault(
        self, exc: httpx.HTTPError, read_timeout: float, stream: _Stream, *, answered: bool
    ) -> ServerFault:
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if isinstance(exc, httpx.ConnectError):
            return self._fault(f"cannot be reached ({detail})", unresponsive=True)
        if isinstance(exc, httpx.TimeoutException):
            what = "sent no answer, not even headers," if not answered else "sent nothing"
            return self._fault(f"{what} for {read_timeout:.3g} s ({type(exc).__name__})", unresponsive=True)
        if not answered:
            return self._fault(f"closed the connection without answering ({detail})", unresponsive=True)
        if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
            return self._fault(f"cut the stream off after {len(stream.token_times)} tokens, before [DONE] ({detail})")
        return self._fault(f"request failed: {detail}")


class _Stream:
    """The events of one streamed answer, checked as they arrive and turned into a `Sample`."""

    def __init__(self, client: ChatClient, cap: int):
        self.client = client
        self.cap = cap
        self.pieces: list[str] = []
        self.characters = 0
        self.token_times: list[float] = []
        self.usage: dict | None = None
        self.finish_reason: str | None = None
        self.server_timings: dict | None = None
        self.done = False

    def feed(self, data: str, now: float) -> bool:
        """Take one event's data; True at `[DONE]`."""
        if data.strip() == "[DONE]":
            self.done = True
            return True
        chunk = self._parsed(data)
        if "error" in chunk and not chunk.get("choices"):
            raise self.client._fault(f"sent an error in its stream: {shorten(json.dumps(chunk['error']))}")
        if chunk.get("usage") is not None:
            self.usage = self._usage(chunk["usage"], data)
        if chunk.get("timings") is not None:
            self.server_timings = self._timings(chunk["timings"], data)
        choices = chunk.get("choices")
        if choices is None:
            choices = []
        if not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices):
            raise self._bad("choices that are not a list of objects", data)
        for choice in choices:
            delta = choice.get("delta")
            if delta is None:
                delta = {}
            if not isinstance(delta, dict):
                raise self._bad("a delta that is not an object", data)
            content = delta.get("content")
            if content is not None and not isinstance(content, str):
                raise self._bad("content that is not text", data)
            if content:
                self.token_times.append(now)
                self.pieces.append(content)
                self.characters += len(content)
                if len(self.token_times) > self.cap or self.characters > self.cap * MAX_CHARS_PER_TOKEN:
                    raise self.client._fault(
                        f"ignored max_tokens: streamed more than {len(self.token_times) - 1} chunks / "
                        f"{self.characters - len(content)} characters "
                        f"(cap {self.cap} chunks, {self.cap * MAX_CHARS_PER_TOKEN} characters); stopped reading"
                    )
            finish = choice.get("finish_reason")
            if finish is not None and not isinstance(finish, str):
                raise self._bad("a finish_reason that is not text", data)
            self.finish_reason = finish or self.finish_reason
        return False

    def _parsed(self, data: str) -> dict:
        try:
            chunk = json.loads(data)
        except json.JSONDecodeError as exc:
            raise self.client._fault(f"sent garbage in its stream ({exc.msg}): {shorten(data)!r}") from None
        if not isinstance(chunk, dict):
            raise self._bad(f"a chunk that is a JSON {type(chunk).__name__}, not an object", data)
        return chunk

    def _bad(self, what: str, data: str) -> ServerFault:
        return self.client._fault(f"sent {what}: {shorten(data)!r}")

    def _usage(self, usage: object, data: str) -> dict:
        if not isinstance(usage, dict):
            raise self._bad("usage that is not an object", data)
        checked = dict(usage)
        for key in ("completion_tokens", "prompt_tokens"):
            if usage.get(key) is not None:
                checked[key] = self._count(usage[key], f"usage.{key}")
        if (checked.get("completion_tokens") or 0) > self.cap:
            raise self.client._fault(
                f"counted usage.completion_tokens = {checked['completion_tokens']}, "
                f"past the cap of {self.cap} for this request's max_tokens"
            )
        return checked

    def _count(self, value: object, name: str) -> int:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value < 0
            or value != int(value)
        ):
            raise self.client._fault(f"sent {name} = {shorten(json.dumps(value), 60)}, not a whole number >= 0")
        return int(value)

    def _timings(self, timings: object, data: str) -> dict:
        """The server's own figures: numbers kept (they must be finite and >= 0), anything else left out."""
        if not isinstance(timings, dict):
            raise self._bad("timings that are not an object", data)
        kept = {}
        for key, value in timings.items():
            if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if not math.isfinite(value) or value < 0:
                raise self.client._fault(f"sent timings.{key} = {value!r}, not a finite figure >= 0")
            kept[str(key)] = value
        return kept

    def sample(self, start: float) -> Sample:
        total = time.perf_counter() - start
        if not self.done:
            raise self.client._fault(
                f"ended the stream after {len(self.token_times)} tokens without [DONE] "
                f"(finish_reason={self.finish_reason}): cut off, not an answer"
            )
        if not self.token_times:
            raise self.client._fault(f"streamed no content (finish_reason={self.finish_reason})")
        usage = self.usage or {}
        if usage.get("completion_tokens"):
            output_tokens, counted_by = usage["completion_tokens"], "server usage"
        else:
            output_tokens, counted_by = len(self.token_times), "stream chunks"
        token_times = self.token_times
        gaps = [later - earlier for earlier, later in itertools.pairwise(token_times)]
        decode_window = token_times[-1] - token_times[0]
        return Sample(
            response="".join(self.pieces),
            ttft_s=token_times[0],
            total_s=total,
            output_tokens=output_tokens,
            prompt_tokens=usage.get("prompt_tokens"),
            tokens_counted_by=counted_by,
            # The first token is paid for by prefill; decode speed counts the ones after it.
            decode_tokens_per_s=(output_tokens - 1) / decode_window
            if output_tokens > 1 and decode_window > 0
            else None,
            itl_p50_s=statistics.median(gaps) if gaps else None,
            itl_p95_s=percentile(gaps, 95) if gaps else None,
            finish_reason=self.finish_reason,
            server_timings=self.server_timings,
        )
