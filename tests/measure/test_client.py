"""The measuring client against a scripted SSE stream: parsing, token counts and timing arithmetic."""

import pytest

from bakeoff.errors import BakeoffError
from bakeoff.measure.client import ChatClient

from ..fake_openai import serve_stream
from ..fault_server import chunk


def test_stream_is_measured_from_its_chunks():
    script = [
        (0.0, ": keep-alive"),
        (0.0, chunk(content="")),  # the role chunk carries no text and is not a token
        (0.20, chunk(content="Hel")),
        (0.05, chunk(content="lo")),
        (0.05, chunk(content=" world")),
        (0.05, chunk(finish="stop")),
        (0.0, chunk(usage={"prompt_tokens": 11, "completion_tokens": 3})),
        (0.0, "data: [DONE]"),
    ]
    with serve_stream(script) as (url, requests):
        client = ChatClient(url, "m:1")
        sample = client.chat([{"role": "user", "content": "hi"}], max_tokens=5)
        client.close()
    assert requests[0]["model"] == "m:1" and requests[0]["stream"] is True
    assert requests[0]["stream_options"] == {"include_usage": True} and requests[0]["max_tokens"] == 5
    assert sample.response == "Hello world"
    assert sample.output_tokens == 3 and sample.prompt_tokens == 11 and sample.tokens_counted_by == "server usage"
    assert sample.finish_reason == "stop"
    assert 0.18 <= sample.ttft_s < sample.total_s
    # Two gaps of about 50 ms between three tokens: 2 tokens decoded in about 0.1 s.
    assert 0.03 <= sample.itl_p50_s <= 0.2
    assert 8 <= sample.decode_tokens_per_s <= 60


def test_without_usage_tokens_are_counted_from_chunks():
    script = [(0, chunk(content="a")), (0, chunk(content="b")), (0, chunk(finish="length")), (0, "data: [DONE]")]
    with serve_stream(script) as (url, _):
        sample = ChatClient(url, "m").chat([])
    assert sample.output_tokens == 2 and sample.tokens_counted_by == "stream chunks"


def test_error_status_is_one_clear_error():
    with serve_stream([], status=400) as (url, _):
        with pytest.raises(BakeoffError, match="answered 400: .*Model not loaded"):
            ChatClient(url, "m").chat([])


def test_a_stream_without_text_is_an_error():
    with serve_stream([(0, chunk(finish="stop")), (0, "data: [DONE]")]) as (url, _):
        with pytest.raises(BakeoffError, match="streamed no content"):
            ChatClient(url, "m").chat([])


def test_protocol_through_an_httpx_mock_transport():
    import json

    import httpx

    events = [
        chunk(content="4"),
        chunk(content="2"),
        chunk(finish="stop"),
        chunk(usage={"prompt_tokens": 5, "completion_tokens": 2}),
    ]
    body = "".join(f"data: {json.dumps(event)}\n\n" for event in events) + "data: [DONE]\n\n"
    seen = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body.encode())

    client = ChatClient("http://model.invalid", "m:1", api_key="k", transport=httpx.MockTransport(answer))
    sample = client.chat([{"role": "user", "content": "6 x 7?"}])
    client.close()
    assert seen[0]["messages"] == [{"role": "user", "content": "6 x 7?"}]
    assert sample.response == "42" and sample.output_tokens == 2 and sample.finish_reason == "stop"
