"""Launches as a level of repetition, cold and warm samples, and the request clock.

A model is served several times in a run (`launches`), its prompts' repeats spread over the
launches; the first request after each load is cold and counts only in `cold_ttft_s`. The model
is an `endpoint` entry on a scripted stand-in (tests/fake_openai.py); the real default model's
run is in test_launches_integration below.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest

from bakeoff.decide.stats import summarize
from bakeoff.measure.client import ChatClient, _Clock
from bakeoff.measure.workload import requests_for
from bakeoff.metrics import METRICS
from bakeoff.model_run import launch_repeats
from bakeoff.report.model import PromptResult, SampleRecord
from bakeoff.report.store import load_report

from .fake_openai import serve_stream
from .fault_server import PROMPTS as FAULT_PROMPTS
from .fault_server import FaultServer, chunk
from .test_model_run import STREAM, endpoint_entry, model_run

ASK = [{"role": "user", "content": "Capital of France?"}]


@pytest.mark.parametrize("repeats", [1, 2, 3, 5, 7])
@pytest.mark.parametrize("launches", [1, 2, 3])
def test_every_prompt_keeps_its_repeats_spread_evenly_over_the_launches(repeats, launches):
    for offset in range(4):
        shares = [launch_repeats(repeats, launches, launch, offset) for launch in range(launches)]
        assert sum(shares) == repeats
        assert max(shares) - min(shares) <= 1


def test_prompts_with_fewer_repeats_than_launches_are_spread_over_the_launches():
    # Four one-repeat prompts over two launches: two in each, not all four in the first.
    firsts = [launch_repeats(1, 2, 0, offset) for offset in range(4)]
    assert firsts == [1, 0, 1, 0]


def test_each_launch_is_a_new_server_with_its_own_cold_request_and_figures(tmp_path):
    with serve_stream(STREAM, models=("served-model",)) as (url, requests):
        run = model_run(tmp_path, endpoint_entry(url))
        run.warmup = 2
        samples = []
        for launch in range(2):
            with run.serving(launch) as running:
                running.workload().run(requests_for("p", ASK, {}, 3, first=len(samples)), into=samples)
        # 2 launches x (3 recorded + 2 warm-up requests after the cold one)
        assert len(requests) == 10
    assert run.record.starts == 2
    assert [launch.index for launch in run.record.launches] == [0, 1]
    assert all(launch.ready_seconds is not None for launch in run.record.launches)
    assert run.record.ready_seconds == pytest.approx(sum(launch.ready_seconds for launch in run.record.launches) / 2)
    assert [(s.launch, s.cold) for s in samples] == [(0, True), (0, False), (0, False), (1, True), (1, False), (1, False)]
    assert [s.request_id for s in samples] == [f"p#{n}" for n in range(6)]


def test_a_later_launch_keeps_an_earlier_failure(tmp_path):
    with serve_stream(STREAM, models=("served-model",)) as (url, _):
        run = model_run(tmp_path, endpoint_entry(url))
        with run.serving(0):
            run.record.update(status="failed", reason="answered garbage")
        with run.serving(1):
            pass
    assert run.record.status == "failed" and run.record.reason == "answered garbage"


def sample(ttft: float, cold: bool = False, launch: int = 0) -> SampleRecord:
    return SampleRecord(response="x", ttft_s=ttft, total_s=ttft + 1, output_tokens=5, checks=[], cold=cold, launch=launch)


def test_warm_statistics_leave_out_the_cold_samples_which_are_cold_ttft():
    prompt = PromptResult(id="p", text="t", repeats=4, passed=True, checks=[],
                          samples=[sample(2.0, cold=True), sample(0.1), sample(0.2), sample(3.0, cold=True, launch=1)])
    assert METRICS["ttft_s"].values(prompt.samples) == [0.1, 0.2]
    assert METRICS["cold_ttft_s"].values(prompt.samples) == [2.0, 3.0]
    assert METRICS["total_s"].values(prompt.samples) == [1.1, 1.2]


def test_statistics_carry_p90_and_p99():
    stat = summarize([float(v) for v in range(1, 101)])
    assert stat["p90"] == pytest.approx(90.1) and stat["p95"] == pytest.approx(95.05) and stat["p99"] == pytest.approx(99.01)
    assert summarize([4.0])["p99"] == 4.0


def test_the_clock_starts_when_httpcore_has_written_the_request():
    with serve_stream(STREAM, models=("served-model",)) as (url, _):
        clock = _Clock()
        handed = clock.sent
        time.sleep(0.01)
        with httpx.Client() as client:
            client.get(f"{url}/v1/models", extensions={"trace": clock.trace})
    assert clock.sent - handed >= 0.01  # the trace event's name is the one httpcore sends


def test_events_that_arrive_in_one_read_are_stamped_alike_before_parsing():
    # Two tokens in one write come off the socket in one read: stamped at arrival, they are 0 s
    # apart (stamped after parsing, the second would be later by the parse time).
    both = "\n\n".join(f"data: {json.dumps(chunk(content=word))}" for word in ("Par", "is"))
    script = [(0.05, both), (0.0, chunk(finish="stop")), (0.0, "data: [DONE]")]
    with serve_stream(script) as (url, _):
        client = ChatClient(url, "served-model")
        answer = client.chat(ASK)
        client.close()
    assert answer.response == "Paris"
    assert answer.itl_p50_s == 0.0
    assert answer.ttft_s >= 0.05


TEST = "def test_prompt(model, prompt, evaluate):\n    assert evaluate(model, prompt).passed\n"
PROMPTS = """\
defaults:
  repeats: 3
prompts:
  - {id: one, text: "Capital of France?", checks: [{contains: Paris}]}
  - {id: two, text: "Capital of France, again?", repeats: 1, checks: [{contains: Paris}]}
"""


def endpoint_model(name: str, url: str) -> dict:
    return {"name": name, "task": "chat", "min_ram_gb": 0, "notes": "", "runtime": "endpoint",
            "source": {"type": "openai-endpoint", "base_url": f"{url}/v1", "model": "served-model"}}


def test_a_run_launches_each_model_l_times_launch_by_launch(eval_project):
    with serve_stream(STREAM, models=("served-model",)) as (url, requests):
        project = eval_project(models=[endpoint_model("a", url), endpoint_model("b", url)], prompts=PROMPTS, test=TEST)
        result = project.runpytest_subprocess("-v", "-p", "no:randomly", "--bakeoff-launches", "2", "--bakeoff-warmup", "1")
        assert len(requests) == 2 * (3 + 1) + 2 * 2  # every repeat once, plus one warm-up per launch
    assert result.ret == 0, result.stdout.str()
    ran = [line.split("[")[1].split("]")[0] for line in result.outlines if "::test_prompt[" in line and "PASSED" in line]
    # A1 B1 A2 B2: launch 1 of every model before launch 2; prompt `two` (1 repeat, the second
    # prompt) only in launch 2, so one-repeat prompts do not all fall in the first launch.
    assert ran == ["a-one-launch1", "b-one-launch1", "a-one-launch2", "a-two-launch2", "b-one-launch2", "b-two-launch2"]
    report = load_report(project.path / "reports" / "latest.json")
    for model in report.models:
        assert [launch.index for launch in model.launches] == [0, 1] and model.starts == 2
        one = next(p for p in model.prompts if p.id == "one")
        assert [(s.launch, s.cold) for s in one.samples] == [(0, True), (0, False), (1, True)]
        assert one.stats["ttft_s"].n == 1 and one.stats["cold_ttft_s"].n == 2
    # A run's samples store what they stored before the workload stamped request ids: the record's fields, no more.
    stored = json.loads((project.path / "reports" / "latest.json").read_text())
    assert all(set(s) == set(SampleRecord.model_fields) for m in stored["models"] for p in m["prompts"] for s in p["samples"])


def test_a_switch_run_interleaves_two_models_and_leaves_the_others_out(eval_project):
    with serve_stream(STREAM, models=("served-model",)) as (url, _):
        models = [endpoint_model(name, url) for name in ("a", "b", "c")]
        project = eval_project(models=models, prompts=PROMPTS, test=TEST)
        result = project.runpytest_subprocess("-v", "--bakeoff-launches", "2", "--bakeoff-switch", "c,a")
    assert result.ret == 0, result.stdout.str()
    ran = [line.split("[")[1].split("-")[0] for line in result.outlines if "::test_prompt[" in line and "PASSED" in line]
    assert ran == ["c", "a", "c", "c", "a", "a"]  # launch 1: c one, a one; launch 2: both prompts each


def test_zero_launches_is_one_line(eval_project):
    project = eval_project(models=[endpoint_model("a", "http://127.0.0.1:9")], prompts=PROMPTS, test=TEST)
    result = project.runpytest_subprocess("--bakeoff-launches", "0")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: --bakeoff-launches 0: must be 1 or more"])


def test_a_switch_to_a_model_not_in_the_run_is_one_line(eval_project):
    project = eval_project(models=[endpoint_model("a", "http://127.0.0.1:9")], prompts=PROMPTS, test=TEST)
    result = project.runpytest_subprocess("--bakeoff-switch", "a,zz")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: --bakeoff-switch: no model zz in this run; models: a"])


def test_a_model_that_stopped_answering_is_not_launched_again(eval_project):
    # Three one-repeat prompts over two launches: `first` and `third` in launch 1, `second` in 2.
    with FaultServer(["ok", "stall"]) as stalling:
        project = eval_project(models=[endpoint_model("stalls", stalling.url)], prompts=FAULT_PROMPTS, test=TEST)
        result = project.runpytest_subprocess("--bakeoff-launches", "2", "--bakeoff-limit", "stall_s=1")
        assert len(stalling.requests) == 2
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*not started again: stalls: server*stalled*"])
    record = load_report(project.path / "reports" / "latest.json").models[0]
    assert record.status == "failed" and record.starts == 1


REAL_PROMPTS = """\
defaults: {repeats: 3, max_tokens: 16}
prompts:
  - {id: arithmetic, text: "What is 6 times 7? Answer with the number only.", checks: [{contains: "42"}]}
"""


@pytest.mark.integration
def test_a_real_run_of_the_default_model_records_each_launch(eval_project, default_model_pulled):
    project = eval_project(prompts=REAL_PROMPTS, test=TEST)
    result = project.runpytest_subprocess("-m", "qwen2_5_coder_0_5b and foundry", "--bakeoff-launches", "2", "-p", "no:cacheprovider")
    assert result.ret == 0, result.stdout.str()[-3000:]
    record = load_report(project.path / "reports" / "latest.json").models[0]
    assert record.status == "ran" and record.starts == 2
    assert [launch.index for launch in record.launches] == [0, 1]
    for launch in record.launches:
        assert launch.ready_seconds > 0 and launch.rss_after_load_bytes > 100 * 2**20  # a real server holding a model
    samples = record.prompts[0].samples
    assert [(s.launch, s.cold) for s in samples] == [(0, True), (0, False), (1, True)]
    assert len(METRICS["cold_ttft_s"].values(record.samples)) == 2 and len(METRICS["ttft_s"].values(record.samples)) == 1
