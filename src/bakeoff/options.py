"""The plugin's command-line options (`pytest --help`, under "bakeoff"); plugin.py adds them.

Each overrides its setting in [tool.bakeoff] of pyproject.toml, where there is one.
"""

from __future__ import annotations

import pytest


def add_options(parser: pytest.Parser) -> None:
    """The `--bakeoff-*` options, in their own group of `pytest --help`."""
    group = parser.getgroup("bakeoff", "bakeoff: local model evaluation")
    group.addoption("--bakeoff-models", metavar="PATH", help="model registry (default: models.json in the rootdir)")
    group.addoption("--bakeoff-prompts", metavar="PATH", help="prompts file (default: prompts.yaml in the rootdir)")
    group.addoption(
        "--bakeoff-prompt-source",
        metavar="MODULE:FACTORY",
        help="read the prompts with this factory, given the --bakeoff-prompts location (default: a prompts.yaml file)",
    )
    group.addoption("--bakeoff-reports", metavar="DIR", help="where run reports go (default: reports/ in the rootdir)")
    group.addoption(
        "--bakeoff-baseline",
        metavar="REPORT",
        help="compare the run with this report at the end and fail the session when a gate in [tool.bakeoff] fails",
    )
    group.addoption(
        "--bakeoff-limit",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a bound on every request (bakeoff.measure.client.Limits: first_token_s, stall_s, decode_tokens_per_s, "
        "length_factor, max_request_s, ...), over [tool.bakeoff.limits] in pyproject.toml; repeat for several",
    )
    group.addoption(
        "--bakeoff-share-host",
        action="store_true",
        help="with -n/--tx: let several workers measure models on one machine at once (their timings disturb each "
        "other: the report says so and timing gates do not judge it)",
    )
    group.addoption(
        "--bakeoff-launches",
        type=int,
        metavar="N",
        help="start each model's server N times in the run, the prompts' repeats spread over them "
        "(default: launches in [tool.bakeoff], else 3)",
    )
    group.addoption(
        "--bakeoff-warmup",
        type=int,
        metavar="N",
        help=(
            "after each launch's first (cold) request, N requests that are not recorded "
            "(default: warmup in [tool.bakeoff], else 0)"
        ),
    )
    group.addoption(
        "--bakeoff-switch",
        metavar="A,B",
        help="a model-switch run: only models A and B (labels as in the test ids), launch by launch A1 B1 A2 B2 ..., "
        "for `bakeoff gate --from A --to B`",
    )
