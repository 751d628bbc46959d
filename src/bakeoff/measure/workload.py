"""Driving a served model with a plan of requests, and stamping what comes back.

A `Workload` sends a list of `Request`s to one start of a server (`ServerStart`) as its `Plan`
says, and returns the samples stamped with the launch, whether the request was cold and the
request's id. `Sequential` is the plan runs use today: one request after another, each when the
previous answered, as pytest-benchmark's rounds (`rounds`). A concurrent or timed-arrival plan
is another class with the same `drive`; callers do not change.

"Cold" belongs to a server start, not to a counter of requests: the first request after each
load claims it under a lock, so requests sent at once still mark exactly one cold sample per start.
The warm-up requests after it (never recorded) are taken once per start the same way.
This module sends and stamps; it never decides on the answers, never records them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from bakeoff.measure.client import ChatClient, Sample

# A plan's way of running `one` request `times` times with `setup` before each, outside any
# timing: a plain loop, or pytest-benchmark's rounds (the plugin's `ask_repeats`).
Rounds = Callable[[Callable[[], None], int, Callable[[], None]], None]


@dataclass(frozen=True)
class Request:
    """One planned request: its id (the prompt's id and the attempt's number in the run: "p#3")."""

    id: str
    messages: list[dict]
    options: dict = field(default_factory=dict)


def requests_for(prompt_id: str, messages: list[dict], options: dict, count: int, first: int = 0) -> list[Request]:
    """`count` attempts at one prompt, numbered on from `first` (the attempts of earlier launches)."""
    return [Request(f"{prompt_id}#{first + index}", messages, options) for index in range(count)]


class ServerStart:
    """One start of a server (a launch): which request is its first (cold), and its warm-up
    requests, each claimed once under a lock whatever the plan sends at once."""

    def __init__(self, launch: int = 0, warmup: int = 0):
        self.launch = launch
        self._lock = threading.Lock()
        self._cold_claimed = False
        self._cold_answered = False
        self._warmup = warmup  # requests still to send after the cold one, not recorded

    def claim_cold(self) -> bool:
        """True for the first request after the load, once."""
        with self._lock:
            cold, self._cold_claimed = not self._cold_claimed, True
            return cold

    def settle_cold(self, answered: bool) -> None:
        """The cold request is done: answered, the warm-ups fall due; failed (no sample), the next
        request finds the server as cold and claims it."""
        with self._lock:
            self._cold_answered = answered
            self._cold_claimed = answered

    def take_warm_ups(self) -> int:
        """How many warm-up requests to send now: all of them once the cold request has answered, then none."""
        with self._lock:
            due, self._warmup = (self._warmup, 0) if self._cold_answered else (0, self._warmup)
            return due


def one_by_one(one: Callable[[], None], times: int, setup: Callable[[], None]) -> None:
    for _ in range(times):
        setup()
        one()


Step = Callable[["Request"], None]  # what a plan does with one request: send it, or warm up before it


class Plan(Protocol):
    def drive(self, requests: list[Request], send: Step, before: Step) -> None:
        """Send every request through `send`, `before` each outside its timing (warm-ups)."""


@dataclass(frozen=True)
class Sequential:
    """One request after another, each sent when the previous answered; `rounds` runs them."""

    rounds: Rounds = one_by_one

    def drive(self, requests: list[Request], send: Step, before: Step) -> None:
        queue = iter(requests)
        upcoming: list[Request] = []

        def setup() -> None:
            upcoming.append(next(queue))
            before(upcoming[-1])

        self.rounds(lambda: send(upcoming[-1]), len(requests), setup)


@dataclass
class Workload:
    """Requests to one start of a server, sent as `plan` says; samples stamped with the launch,
    cold flag and request id."""

    client: ChatClient
    start: ServerStart
    plan: Plan = field(default_factory=Sequential)

    def run(self, requests: list[Request], into: list[Sample]) -> list[Sample]:
        """Send `requests`; each sample is appended to `into` as it arrives (so a fault midway
        keeps the ones answered) and returned with the others of this call."""
        answered: list[Sample] = []
        lock = threading.Lock()

        def send(request: Request) -> None:
            sample = self.ask(request)
            with lock:
                answered.append(sample)
                into.append(sample)

        self.plan.drive(requests, send, self.warm_up)
        return answered

    def ask(self, request: Request) -> Sample:
        cold = self.start.claim_cold()
        try:
            sample = self.client.chat(request.messages, **request.options)
        except BaseException:
            if cold:
                self.start.settle_cold(answered=False)
            raise
        if cold:
            self.start.settle_cold(answered=True)
        sample.launch, sample.cold, sample.request_id = self.start.launch, cold, request.id
        return sample

    def warm_up(self, request: Request) -> None:
        """After the cold request, the start's warm-up requests (with the next request's messages);
        their answers are dropped."""
        for _ in range(self.start.take_warm_ups()):
            self.client.chat(request.messages, **request.options)
