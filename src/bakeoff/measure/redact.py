"""Keeping secrets out of what bakeoff writes: error text from a server (which may echo the request's
headers) goes through `redact` before it reaches a report, a page, a CSV or pytest's output."""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "[redacted]"

# A bearer token, an `api_key=...` / `"api-key": "..."` pair, and OpenAI-style keys wherever they appear.
_PATTERNS = (
    re.compile(r"(?i)(\bbearer\s+)(?!\[redacted\])[^\s\"',;}\]]+"),
    re.compile(r"(?i)(\b(?:x-)?api[_-]?key\\?[\"']?\s*[:=]\s*\\?[\"']?)(?!\[redacted\])[^\s\"',;}\]\\]+"),
    re.compile(r"()\bsk-[A-Za-z0-9_\-]{8,}"),
)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with every given secret and anything shaped like a credential replaced by [redacted]."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda match: match.group(1) + MASK, text)
    return text
