"""Do our client-side figures agree with llama-server's own? Prints the figures; exits 1 if a bar is missed.

On the same requests to a real llama-server (the default model's GGUF), each streamed sample
carries both our measurement and the server's `timings`. Two bars:
- decode speed: our decode tokens/s against the server's `predicted_per_second`, within 3%
  (median of the per-request ratios), on requests that run to max_tokens;
- first token: our time to first token minus the server's `prompt_ms` (what the server spent on
  the prompt; the rest is HTTP, the first token's sampling and streaming), under 15 ms (median).

Requests that end on the model's end-of-sequence token are shown apart: the server's
`predicted_ms` then also holds the step that generated that token, which `predicted_n` (and the
usage count, and the stream) leave out, so its figure is one decode step slower than ours; for
a 13-token answer that is about 8%. Ours is tokens after the first over the time after the first.

    .venv/bin/python benchmarks/llamacpp_fidelity.py [--requests 24] [--model qwen2.5-coder-0.5b@llamacpp]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from bakeoff import runtimes
from bakeoff.inputs.registry import find, load_registry
from bakeoff.measure.client import ChatClient

ROOT = Path(__file__).resolve().parents[1]
DECODE_BAR = 0.03
TTFT_BAR_S = 0.015
SHORT_REQUESTS = 8


def long_prompts(n: int) -> list[list[dict]]:
    # Varied, so the server's prompt cache does not turn every prefill into a no-op; endless
    # answers, so every request runs to max_tokens.
    return [
        [{"role": "user", "content": f"Write the numbers from {100 * i + 1} to {100 * i + 300}, one per line."}] for i in range(n)
    ]


def short_prompts(n: int) -> list[list[dict]]:
    return [[{"role": "user", "content": f"Name {i + 3} fruits, separated by commas, nothing else."}] for i in range(n)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=24)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--model", default="qwen2.5-coder-0.5b@llamacpp")
    args = parser.parse_args()

    entry = find(load_registry(ROOT / "models.json"), args.model)
    runtime = runtimes.get(entry.runtime)
    reason = runtime.unavailable_reason()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    runtime.prepare(entry, progress=lambda line: print(line, file=sys.stderr))
    with tempfile.TemporaryDirectory() as tmp:
        server = runtime.launch(entry, ROOT / "models.json", Path(tmp) / "serve.log")
        ready = server.start()
        client = ChatClient(ready.url, ready.model_id)
        try:
            client.chat(short_prompts(1)[0], max_tokens=8)  # warm-up, not counted
            samples = [client.chat(m, max_tokens=args.max_tokens, temperature=0) for m in long_prompts(args.requests)]
            samples += [client.chat(m, max_tokens=args.max_tokens, temperature=0) for m in short_prompts(SHORT_REQUESTS)]
        finally:
            client.close()
            server.stop()

    ratios, gaps, eos_ratios = [], [], []
    print(f"{entry.label} on {ready.runtime} {ready.runtime_version}: {len(samples)} requests, max_tokens {args.max_tokens}")
    print(f"{'end':>6} {'tokens':>6} {'srv n':>5} {'ours tok/s':>10} {'srv tok/s':>9} {'TTFT ms':>8} {'prompt ms':>9}")
    for sample in samples:
        timings = sample.server_timings
        if not timings or sample.decode_tokens_per_s is None:
            print("a response came without server timings or decode figures", file=sys.stderr)
            return 2
        ratio = sample.decode_tokens_per_s / timings["predicted_per_second"]
        (ratios if sample.finish_reason == "length" else eos_ratios).append(ratio)
        gaps.append(sample.ttft_s - timings["prompt_ms"] / 1000)
        print(
            f"{sample.finish_reason:>6} {sample.output_tokens:>6} {timings['predicted_n']:>5} {sample.decode_tokens_per_s:>10.2f} "
            f"{timings['predicted_per_second']:>9.2f} {sample.ttft_s * 1000:>8.1f} {timings['prompt_ms']:>9.1f}"
        )
    if len(ratios) < 20:
        print(f"only {len(ratios)} requests ran to max_tokens; the decode bar needs 20", file=sys.stderr)
        return 2
    if eos_ratios:
        print(
            f"ended by the model (not judged): ours / server's median {statistics.median(eos_ratios):.4f} over {len(eos_ratios)}: "
            "the server times the end-of-sequence step it does not count"
        )
    print(f"ran to max_tokens: {len(ratios)} requests")
    decode_off = abs(statistics.median(ratios) - 1)
    ttft_gap = statistics.median(gaps)
    decode_ok, ttft_ok = decode_off <= DECODE_BAR, ttft_gap < TTFT_BAR_S
    print(
        f"decode tokens/s, ours / server's: median ratio {statistics.median(ratios):.4f} "
        f"(min {min(ratios):.4f}, max {max(ratios):.4f}): {decode_off:.2%} off, bar {DECODE_BAR:.0%}: {'OK' if decode_ok else 'MISSED'}"
    )
    print(
        f"TTFT minus server prompt_ms: median {ttft_gap * 1000:.1f} ms "
        f"(min {min(gaps) * 1000:.1f}, max {max(gaps) * 1000:.1f}), bar {TTFT_BAR_S * 1000:.0f} ms: {'OK' if ttft_ok else 'MISSED'}"
    )
    return 0 if decode_ok and ttft_ok else 1


if __name__ == "__main__":
    sys.exit(main())
