"""How far is bakeoff's time to first token from the wire? Prints the figures; exits 1 if the bar is missed.

Serves the default model on llama.cpp (llama-server answers on 127.0.0.1 itself, no relay),
captures the loopback traffic of its port with tcpdump (nanosecond kernel timestamps) while
bakeoff's `ChatClient` sends the same short prompts, then reads the capture: per request, the
wire's TTFT runs from the last packet of the request to the packet that carries the first
non-empty `content` of the answer. Bakeoff's TTFT should be that plus only the time for the kernel
to hand the bytes to Python. Bar: median (bakeoff - wire) at most 0.5 ms.

Needs root (or CAP_NET_RAW) and tcpdump (`apt-get install -y tcpdump`).

    .venv/bin/python benchmarks/clock_vs_wire.py [--requests 40]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bakeoff import runtimes
from bakeoff.inputs.registry import find, load_registry
from bakeoff.measure.client import ChatClient, Limits
from bakeoff.runtimes.process import ServerProcess, serve_argv

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = ROOT / "models.json"
BAR_S = 0.0005
PROMPTS = ["What is 2 + 3?", "Name a colour.", "Say hi.", "What is the capital of France?"]
FIRST_CONTENT = re.compile(rb'"content":"(?!")')  # a delta with text in it (not null, not "")


@dataclass
class Exchange:
    """One request and its answer as the capture saw them."""

    request_sent: float = 0.0  # the last packet of the request
    answer: bytearray = field(default_factory=bytearray)
    first_content: float | None = None


def read_pcap(path: Path) -> list[tuple[float, bytes]]:
    """(timestamp, packet) pairs of a nanosecond pcap file, as tcpdump --time-stamp-precision=nano writes."""
    data = path.read_bytes()
    magic, = struct.unpack_from("<I", data, 0)
    if magic != 0xA1B23C4D:
        sys.exit(f"clock_vs_wire: {path} is not a little-endian nanosecond pcap (magic {magic:#x})")
    link_type, = struct.unpack_from("<I", data, 20)
    if link_type != 1:
        sys.exit(f"clock_vs_wire: link type {link_type}, expected Ethernet (1) on lo")
    packets, offset = [], 24
    while offset + 16 <= len(data):
        seconds, nanoseconds, captured, _ = struct.unpack_from("<IIII", data, offset)
        offset += 16
        packets.append((seconds + nanoseconds / 1e9, data[offset:offset + captured]))
        offset += captured
    return packets


def tcp_payloads(packets: list[tuple[float, bytes]], port: int):
    """(timestamp, from the server?, payload) of every IPv4 TCP packet with data."""
    for stamp, frame in packets:
        ip = frame[14:]
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
            continue
        header, total = (ip[0] & 0x0F) * 4, struct.unpack_from("!H", ip, 2)[0]
        tcp = ip[header:total]
        source, _ = struct.unpack_from("!HH", tcp, 0)
        payload = tcp[(tcp[12] >> 4) * 4:]
        if payload:
            yield stamp, source == port, payload


def exchanges(packets: list[tuple[float, bytes]], port: int) -> list[Exchange]:
    """The capture cut into requests and answers (the client sends one request at a time)."""
    found: list[Exchange] = []
    answering = True
    for stamp, from_server, payload in tcp_payloads(packets, port):
        if not from_server:
            if answering:  # a new request begins
                found.append(Exchange())
                answering = False
            found[-1].request_sent = stamp
            continue
        answering = True
        exchange = found[-1]
        exchange.answer += payload
        if exchange.first_content is None and FIRST_CONTENT.search(exchange.answer):
            exchange.first_content = stamp
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--runtime", default="llamacpp", choices=["llamacpp", "foundry"],
                        help="foundry: requests go to Foundry Local's own web service (the serve relay's measured_url)")
    args = parser.parse_args()
    if shutil.which("tcpdump") is None:
        sys.exit("clock_vs_wire: tcpdump not found (apt-get install -y tcpdump)")

    entry = find(load_registry(REGISTRY), args.model, args.runtime)
    runtime = runtimes.get(entry.runtime)
    if runtime.needs_prepare(entry):
        runtime.prepare(entry, progress=lambda line: print(f"bakeoff: {line}", file=sys.stderr))
    workdir = Path(tempfile.mkdtemp(prefix="bakeoff-clock-"))
    server = ServerProcess(serve_argv(entry.name, REGISTRY, runtime=entry.runtime), workdir / "serve.log")
    ready = server.start()
    try:
        url = ready.measured_url or ready.url
        port = urlsplit(url).port
        capture = workdir / "loopback.pcap"
        tcpdump = subprocess.Popen(
            ["tcpdump", "-i", "lo", "-w", str(capture), "-U", "-s", "0", "-B", "8192",
             "--time-stamp-precision=nano", "tcp", "port", str(port)],
            stderr=subprocess.PIPE, text=True,
        )
        tcpdump.stderr.readline()  # "listening on lo, ...": capturing from here on
        # Wide limits: a latency offset is what is measured here, and a loaded machine decodes slowly.
        client = ChatClient(url, ready.model_id, limits=Limits(first_token_s=300, decode_tokens_per_s=0.1, stall_s=300))
        try:
            client.chat([{"role": "user", "content": "Hello"}], max_tokens=4)  # the cold request, left out below
            ttfts = [client.chat([{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}], max_tokens=16, temperature=0).ttft_s
                     for i in range(args.requests)]
        finally:
            client.close()
            time.sleep(0.5)  # let tcpdump write the last packets
            tcpdump.send_signal(signal.SIGINT)
            tcpdump.wait(timeout=10)
    finally:
        server.stop()

    seen = exchanges(read_pcap(capture), port)[-args.requests:]  # the first is the cold request
    if len(seen) != args.requests or any(e.first_content is None for e in seen):
        sys.exit(f"clock_vs_wire: the capture has {len(seen)} answers with content, expected {args.requests} ({capture})")
    wire = [e.first_content - e.request_sent for e in seen]
    gaps = [ours - theirs for ours, theirs in zip(ttfts, wire)]
    print(f"{args.requests} requests to {entry.label} on {url}, capture {capture}; load average {os.getloadavg()[0]:.1f}")
    print(f"median TTFT: bakeoff {statistics.median(ttfts) * 1000:.2f} ms, wire {statistics.median(wire) * 1000:.2f} ms")
    cuts = statistics.quantiles(gaps, n=10, method="inclusive")
    print(f"bakeoff - wire: median {statistics.median(gaps) * 1000:+.3f} ms, "
          f"p10 {cuts[0] * 1000:+.3f} ms, p90 {cuts[-1] * 1000:+.3f} ms, max {max(gaps) * 1000:+.3f} ms")
    verdict = abs(statistics.median(gaps)) <= BAR_S
    print(f"bar: |median| <= {BAR_S * 1000:.1f} ms: {'met' if verdict else 'MISSED'}")
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
