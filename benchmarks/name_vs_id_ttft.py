"""Does calling a model by its registry name cost time to first token? Prints the figures; exits 1
if the bar is missed.

`bakeoff serve NAME` answers requests whose `model` is the registry name on every runtime. Foundry
Local's web service knows only the full id (`NAME-bakeoff-cpu:1`), so on that runtime the requests
pass a relay in the serve process that rewrites the `model` value. Side by side, in one run, the
same short prompts go three ways, interleaved in a shuffled order each round:

- `name`:   through `bakeoff serve` with the registry name;
- `id`:     through `bakeoff serve` with the runtime's own id;
- `direct`: to Foundry Local's own web service with the id (no relay at all).

Bar: median TTFT with the name within 2 ms of the median with the id. The relay's own cost
(`id` against `direct`) is printed too. With `--runtime llamacpp` llama-server answers the name
itself (`--alias`), so only `name` and `id` are compared there (`id` = the GGUF's file name,
which llama-server answers as well).

    .venv/bin/python benchmarks/name_vs_id_ttft.py [--rounds 40] [--runtime foundry]
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
from pathlib import Path

from bakeoff import runtimes
from bakeoff.inputs.registry import find, load_registry
from bakeoff.measure.client import ChatClient
from bakeoff.runtimes.process import ServerProcess, serve_argv

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = ROOT / "models.json"
BAR_S = 0.002
FOUNDRY_OWN = re.compile(r"Foundry Local's own web service: (http://\S+?)\)")
PROMPTS = ["What is 2 + 3?", "Name a colour.", "Say hi.", "What is the capital of France?"]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--runtime", default="foundry", choices=["foundry", "llamacpp"])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    args = parser.parse_args()

    entry = find(load_registry(REGISTRY), args.model, args.runtime)
    runtime = runtimes.get(entry.runtime)
    if runtime.needs_prepare(entry):
        runtime.prepare(entry, progress=lambda line: print(f"bakeoff: {line}", file=sys.stderr))
    log = Path(tempfile.mkdtemp()) / "serve.log"
    server = ServerProcess(serve_argv(entry.name, REGISTRY, runtime=entry.runtime), log)
    ready = server.start()
    try:
        ways = {"name": ChatClient(ready.url, entry.name)}
        if args.runtime == "foundry":
            ways["id"] = ChatClient(ready.url, ready.model_id)
            ways["direct"] = ChatClient(FOUNDRY_OWN.search(log.read_text())[1], ready.model_id)
        else:
            ways["id"] = ChatClient(ready.url, Path(runtime.prepare(entry, progress=lambda line: None)).name)
        ttft: dict[str, list[float]] = {way: [] for way in ways}
        rng = random.Random(7)
        for way, client in ways.items():  # warm-up: connections open, prompt cache filled
            for prompt in PROMPTS:
                client.chat([{"role": "user", "content": prompt}], max_tokens=4, temperature=0)
        for round_ in range(args.rounds):
            prompt = PROMPTS[round_ % len(PROMPTS)]
            order = list(ways)
            rng.shuffle(order)
            for way in order:
                sample = ways[way].chat([{"role": "user", "content": prompt}], max_tokens=4, temperature=0)
                ttft[way].append(sample.ttft_s)
        for client in ways.values():
            client.close()
    finally:
        server.stop()

    medians = {way: statistics.median(values) for way, values in ttft.items()}
    print(f"{entry.label} on {ready.runtime} {ready.runtime_version}: {args.rounds} rounds, ways interleaved in shuffled order")
    for way, values in ttft.items():
        q = statistics.quantiles(values, n=4)
        print(f"  {way:<7} TTFT median {ms(medians[way])}   quartiles {ms(q[0])} .. {ms(q[2])}")
    pairs = [a - b for a, b in zip(ttft["name"], ttft["id"])]
    gap = medians["name"] - medians["id"]
    print(f"  name - id: difference of medians {gap * 1000:+.2f} ms, median of per-round differences {statistics.median(pairs) * 1000:+.2f} ms (bar: within {BAR_S * 1000:.0f} ms)")
    if "direct" in ttft:
        relay = [a - b for a, b in zip(ttft["id"], ttft["direct"])]
        print(
            f"  relay (id through bakeoff serve - id direct): difference of medians {(medians['id'] - medians['direct']) * 1000:+.2f} ms, "
            f"median of per-round differences {statistics.median(relay) * 1000:+.2f} ms"
        )
    return 0 if abs(gap) <= BAR_S else 1


if __name__ == "__main__":
    sys.exit(main())
