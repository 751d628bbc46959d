"""A thin HTTP relay in front of a server that knows a model only by an id of its own.

Foundry Local's web service answers only to a model's full id (`NAME-bakeoff-cpu:1`, always with
`:version`), never to the name models.json gives it. The relay, on 127.0.0.1 in `bakeoff serve`'s
own process, lets a client use that name: in a JSON request body whose top-level `model` is the
name it replaces just that value (every other byte passes as it came), and it adds the name to
`GET /v1/models`. Everything else, streamed responses included, passes through byte for byte as
it arrives. One upstream connection per client connection, requests in order (HTTP/1.1 keep-alive).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from json.decoder import scanstring  # type: ignore[attr-defined]  # json's own string scanner; typeshed omits it

LOOPBACK = "127.0.0.1"
MODELS_PATH = b"/v1/models"
COPY_BYTES = 1 << 16
MAX_HEAD_BYTES = 1 << 16
WHITESPACE = " \t\r\n"


def rewrite_model(body: bytes, name: str, model_id: str) -> bytes:
    """`body` with its top-level `"model": name` replaced by `model_id`; anything else unchanged."""
    try:
        text = body.decode()
        parsed = json.loads(text)
        if not isinstance(parsed, dict) or parsed.get("model") != name:
            return body
        span = _top_level_value_span(text, "model")
    except ValueError:  # not UTF-8, not JSON: the server answers it as it would
        return body
    if span is None or span[2] != name:
        return body
    start, end, _ = span
    return (text[:start] + json.dumps(model_id) + text[end:]).encode()


def _top_level_value_span(text: str, wanted: str) -> tuple[int, int, object] | None:
    """(start, end, value) of the value of top-level key `wanted` in the JSON object `text`."""
    decoder = json.JSONDecoder()
    i = _skip(text, 0)
    if text[i : i + 1] != "{":
        raise ValueError("not an object")
    i = _skip(text, i + 1)
    if text[i : i + 1] == "}":
        return None
    while True:
        if text[i : i + 1] != '"':
            raise ValueError("expected a key")
        key, i = scanstring(text, i + 1)
        i = _skip(text, i)
        if text[i : i + 1] != ":":
            raise ValueError("expected ':'")
        start = _skip(text, i + 1)
        value, end = decoder.raw_decode(text, start)
        if key == wanted:
            return start, end, value
        i = _skip(text, end)
        if text[i : i + 1] != ",":
            return None
        i = _skip(text, i + 1)


def _quick_ack(writer: asyncio.StreamWriter) -> None:
    """Acknowledge at once what this connection receives next. An HTTP client writes a request's
    head and body separately; with Nagle's algorithm on its side and delayed ACKs on ours, the body
    would wait up to 40 ms for the head's ACK. Linux resets the flag, so it is set before every read."""
    if QUICKACK is not None:
        with contextlib.suppress(OSError, AttributeError):
            writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)


QUICKACK = getattr(socket, "TCP_QUICKACK", None)


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in WHITESPACE:
        i += 1
    return i


def add_to_listing(body: bytes, name: str, model_id: str) -> bytes:
    """A `/v1/models` answer that also lists `name` (as a copy of `model_id`'s entry)."""
    try:
        listing = json.loads(body)
        entries = listing["data"]
    except (ValueError, KeyError, TypeError):
        return body
    ids = [entry.get("id") for entry in entries if isinstance(entry, dict)]
    if name in ids or model_id not in ids:
        return body
    entries.append({**entries[ids.index(model_id)], "id": name})
    return json.dumps(listing).encode()


class _Head:
    """A request or response head: the first line, the header lines, and the framing they say."""

    def __init__(self, raw: bytes):
        lines = raw.split(b"\r\n")
        self.first = lines[0]
        self.headers = [line for line in lines[1:] if line]
        self.fields: dict[bytes, bytes] = {}
        for line in self.headers:
            key, _, value = line.partition(b":")
            self.fields[key.strip().lower()] = value.strip()

    @property
    def chunked(self) -> bool:
        return b"chunked" in self.fields.get(b"transfer-encoding", b"").lower()

    @property
    def length(self) -> int | None:
        value = self.fields.get(b"content-length")
        return int(value) if value is not None else None

    def encode(self, length: int | None = None) -> bytes:
        """The head again; with `length`, framed by that Content-Length instead of what it said."""
        headers = self.headers
        if length is not None:
            drop = (b"content-length", b"transfer-encoding")
            headers = [h for h in headers if h.partition(b":")[0].strip().lower() not in drop]
            headers.append(b"Content-Length: " + str(length).encode())
        return b"\r\n".join([self.first, *headers]) + b"\r\n\r\n"


async def _read_head(reader: asyncio.StreamReader) -> _Head | None:
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None  # the peer closed between messages
    except asyncio.LimitOverrunError:
        raise ValueError("head too large") from None
    return _Head(raw[:-4])


async def _read_body(reader: asyncio.StreamReader, head: _Head) -> bytes:
    """A whole body (requests are small; a chunked one is joined)."""
    if head.chunked:
        parts: list[bytes] = []
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            parts.append((await reader.readexactly(size + 2))[:-2])
    return await reader.readexactly(head.length or 0)


async def _pass_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: _Head, before_read) -> bool:
    """Copy a response body as it arrives, keeping its framing; False when it ends the connection."""
    if head.chunked:
        while True:
            before_read()
            line = await reader.readline()
            size = int(line.split(b";")[0], 16)
            if size == 0:
                trailer = line
                while (part := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    trailer += part
                writer.write(trailer + b"\r\n")
                await writer.drain()
                return True
            before_read()
            writer.write(line + await reader.readexactly(size + 2))  # one write per chunk: an SSE event
            await writer.drain()
    length = head.length
    if length is None:  # framed by the end of the connection
        while before_read() or (data := await reader.read(COPY_BYTES)):
            writer.write(data)
            await writer.drain()
        return False
    while length > 0:
        before_read()
        data = await reader.read(min(length, COPY_BYTES))
        if not data:
            return False
        writer.write(data)
        await writer.drain()
        length -= len(data)
    return True


class Relay:
    """`http://127.0.0.1:port` relayed to `upstream` (host, port), answering to `name` as `model_id`.

    Runs an event loop in a thread of its own; use as a context manager.
    """

    def __init__(self, upstream_url: str, name: str, model_id: str, port: int = 0):
        host_port = upstream_url.split("://", 1)[-1].rstrip("/")
        host, _, upstream_port = host_port.rpartition(":")
        self.upstream = (host, int(upstream_port))
        self.name, self.model_id = name, model_id
        self._port = port
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="bakeoff-relay", daemon=True)
        self.url = ""

    def __enter__(self) -> Relay:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._connection, LOOPBACK, self._port, limit=MAX_HEAD_BYTES), self._loop
        ).result()
        self.url = f"http://{LOOPBACK}:{self._server.sockets[0].getsockname()[1]}"
        return self

    def __exit__(self, *exc_info) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)  # their connections closed

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _connection(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        upstream_writer = None
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream, limit=MAX_HEAD_BYTES)
            while True:
                _quick_ack(client_writer)
                request = await _read_head(client_reader)
                if request is None:
                    return
                _quick_ack(client_writer)
                body = await _read_body(client_reader, request)
                method, target = (request.first.split(b" ") + [b"", b""])[:2]
                if body:
                    rewritten = rewrite_model(body, self.name, self.model_id)
                    framing = len(rewritten) if rewritten is not body or request.chunked else None
                    upstream_writer.write(request.encode(framing) + rewritten)
                else:
                    upstream_writer.write(request.encode())
                await upstream_writer.drain()
                _quick_ack(upstream_writer)
                response = await _read_head(upstream_reader)
                if response is None:
                    return
                if method == b"GET" and target.split(b"?")[0].rstrip(b"/") == MODELS_PATH:
                    _quick_ack(upstream_writer)
                    listing = add_to_listing(await _read_body(upstream_reader, response), self.name, self.model_id)
                    client_writer.write(response.encode(len(listing)) + listing)
                    await client_writer.drain()
                    continue
                client_writer.write(response.encode())
                if method == b"HEAD" or response.first.split(b" ")[1:2] in ([b"204"], [b"304"]):
                    await client_writer.drain()
                    continue
                if not await _pass_body(upstream_reader, client_writer, response, lambda: _quick_ack(upstream_writer)):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ValueError, OSError):
            return  # either side went away or spoke something else: drop this connection only
        except asyncio.CancelledError:
            return  # the relay is stopping
        finally:
            for writer in (client_writer, upstream_writer):
                if writer is not None:
                    writer.close()
