"""Measuring one chat request: a streamed call to an OpenAI-compatible endpoint, timed per chunk."""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass

import httpx
from httpx_sse import connect_sse

from bakeoff.errors import BakeoffError


@dataclass
class Sample:
    """What one streamed request measured. Times are seconds from sending the request."""

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

    def to_dict(self) -> dict:
        return asdict(self)


def percentile(values: list[float], pct: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


class ChatClient:
    """Streams chat requests to one model. `transport` replaces the network (httpx.MockTransport
    in protocol tests); timings then measure only the client's own work."""

    def __init__(
        self,
        base_url: str,
        model_id: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 300.0,
        transport: httpx.BaseTransport | None = None,
    ):
        self.model_id = model_id
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        self._http = httpx.Client(
            base_url=base_url, headers=headers, timeout=httpx.Timeout(timeout_s, connect=10.0), transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def chat(self, messages: list[dict], **options) -> Sample:
        body = {
            "model": self.model_id,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            **options,
        }
        pieces: list[str] = []
        token_times: list[float] = []
        usage = finish_reason = server_timings = None
        start = time.perf_counter()
        with connect_sse(self._http, "POST", "/v1/chat/completions", json=body) as events:
            if events.response.status_code != 200:
                events.response.read()
                raise BakeoffError(
                    f"{self._http.base_url} answered {events.response.status_code}: {events.response.text[:300]}"
                )
            for event in events.iter_sse():
                if event.data == "[DONE]":
                    break
                chunk = json.loads(event.data)
                usage = chunk.get("usage") or usage
                server_timings = chunk.get("timings") or server_timings
                for choice in chunk.get("choices") or []:
                    content = (choice.get("delta") or {}).get("content")
                    if content:
                        token_times.append(time.perf_counter() - start)
                        pieces.append(content)
                    finish_reason = choice.get("finish_reason") or finish_reason
        total = time.perf_counter() - start
        if not token_times:
            raise BakeoffError(f"{self.model_id} streamed no content (finish_reason={finish_reason})")

        if usage and usage.get("completion_tokens"):
            output_tokens, counted_by = usage["completion_tokens"], "server usage"
        else:
            output_tokens, counted_by = len(token_times), "stream chunks"
        gaps = [later - earlier for earlier, later in zip(token_times, token_times[1:])]
        decode_window = token_times[-1] - token_times[0]
        return Sample(
            response="".join(pieces),
            ttft_s=token_times[0],
            total_s=total,
            output_tokens=output_tokens,
            prompt_tokens=(usage or {}).get("prompt_tokens"),
            tokens_counted_by=counted_by,
            # The first token is paid for by prefill; decode speed counts the ones after it.
            decode_tokens_per_s=(output_tokens - 1) / decode_window if output_tokens > 1 and decode_window > 0 else None,
            itl_p50_s=statistics.median(gaps) if gaps else None,
            itl_p95_s=percentile(gaps, 95) if gaps else None,
            finish_reason=finish_reason,
            server_timings=server_timings,
        )
