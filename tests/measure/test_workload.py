"""The workload seam: a plan of requests to one server start, samples stamped with launch, cold
flag and request id; one cold request per start, also when requests go out at once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from bakeoff.measure.client import Sample, ServerFault
from bakeoff.measure.workload import Request, Sequential, ServerStart, Workload, requests_for

ASK = [{"role": "user", "content": "hi"}]


class FakeClient:
    """Answers every request (or fails the ones `failing` names, by their order), counting them."""

    def __init__(self, failing: tuple[int, ...] = (), delay: threading.Event | None = None):
        self.sent: list[str] = []
        self.failing = failing
        self.delay = delay
        self.lock = threading.Lock()

    def chat(self, messages, **options) -> Sample:
        with self.lock:
            self.sent.append(options.get("tag", "request"))
            order = len(self.sent) - 1
        if self.delay is not None:
            self.delay.wait(5)
        if order in self.failing:
            raise ServerFault("the server cut the stream")
        return Sample("hello", 0.1, 0.2, 2, None, "stream chunks", 10.0, 0.1, 0.1, "stop")


def test_a_sequential_plan_stamps_launch_cold_and_request_id_and_warms_up_once():
    client = FakeClient()
    workload = Workload(client, ServerStart(launch=2, warmup=2))
    samples: list[Sample] = []
    returned = workload.run(requests_for("p", ASK, {}, 3, first=5), into=samples)
    assert returned == samples
    assert [(s.launch, s.cold, s.request_id) for s in samples] == [(2, True, "p#5"), (2, False, "p#6"), (2, False, "p#7")]
    assert len(client.sent) == 5  # 3 recorded, 2 warm-ups after the cold one
    more = workload.run(requests_for("q", ASK, {}, 2), into=samples)  # the next prompt in the same launch
    assert [s.cold for s in more] == [False, False] and len(client.sent) == 7  # no second cold, no more warm-ups


def test_sequential_hands_its_rounds_the_requests_with_the_warm_ups_outside_them():
    """pytest-benchmark times `one` as a round and `setup` outside it: the plan must give both."""
    calls = []

    def rounds(one, times, setup):
        calls.append(times)
        for _ in range(times):
            setup()
            before = len(client.sent)
            one()
            calls.append(len(client.sent) - before)  # requests inside the timed round

    client = FakeClient()
    Workload(client, ServerStart(warmup=3), Sequential(rounds)).run(requests_for("p", ASK, {}, 3), into=[])
    assert calls == [3, 1, 1, 1] and len(client.sent) == 6


def test_a_failed_cold_request_leaves_the_server_cold_for_the_next():
    client = FakeClient(failing=(0,))
    workload = Workload(client, ServerStart(warmup=1))
    kept: list[Sample] = []
    with pytest.raises(ServerFault):
        workload.run(requests_for("p", ASK, {}, 2), into=kept)
    assert kept == []
    workload.run(requests_for("p", ASK, {}, 2), into=kept)
    assert [s.cold for s in kept] == [True, False]


def test_the_cold_claim_is_taken_once_by_requests_sent_at_once():
    start = ServerStart()
    barrier = threading.Barrier(32)

    def claim(_):
        barrier.wait()
        return start.claim_cold()

    with ThreadPoolExecutor(32) as pool:
        assert sorted(pool.map(claim, range(32))) == [False] * 31 + [True]


class AllAtOnce:
    """A concurrent plan, written as the next ones will be: every request in flight together."""

    def drive(self, requests: list[Request], send, before) -> None:
        with ThreadPoolExecutor(len(requests)) as pool:
            list(pool.map(send, requests))


def test_a_concurrent_plan_needs_no_change_to_the_caller_and_still_has_one_cold_sample():
    release = threading.Event()
    client = FakeClient(delay=release)
    workload = Workload(client, ServerStart(launch=1), AllAtOnce())
    threading.Timer(0.2, release.set).start()  # all eight are sent before any answers
    samples = workload.run(requests_for("p", ASK, {}, 8), into=[])
    assert len(samples) == 8 and sum(s.cold for s in samples) == 1
    assert sorted(s.request_id for s in samples) == sorted(f"p#{n}" for n in range(8))
    assert {s.launch for s in samples} == {1}
