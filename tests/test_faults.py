"""Faults a server can throw at a run, injected by tests/fault_server.py: through the real
ChatClient, then through real `pytest evals` runs of an `endpoint` model on the fault server.

Nothing is lost (every run leaves a valid report, incomplete where it is), nothing hangs (every
request is bounded; a dead server fails its model once, quickly), nothing slips through (a bad
figure fails its request, never the report; a secret never reaches a report, page, CSV or output).
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time

import psutil
import pytest

from bakeoff.measure.client import ChatClient, Limits, ServerFault
from bakeoff.measure.redact import redact
from bakeoff.report.store import load_report
from bakeoff.show.csv_report import render_csv
from bakeoff.show.summary import run_view

from .fault_server import PROMPTS, TEST, Fault, FaultServer, chunk

SECRET = "sk-fault-test-do-not-leak-0123456789"
FAST = Limits(first_token_s=1.0, stall_s=0.5, decode_tokens_per_s=10, decode_slack_s=0.3)
ASK = [{"role": "user", "content": "Capital of France?"}]


def ask(fault, limits: Limits = FAST, max_tokens: int = 8, api_key: str | None = None):
    """(the Sample or the ServerFault, seconds taken) for one request to a server with `fault`."""
    with FaultServer([fault]) as server:
        client = ChatClient(server.url, "served-model", api_key=api_key, limits=limits)
        started = time.perf_counter()
        try:
            outcome = client.chat(ASK, max_tokens=max_tokens)
        except ServerFault as fault_raised:
            outcome = fault_raised
        finally:
            client.close()
        return outcome, time.perf_counter() - started, server.url


# --- One request, through the real client ---


def test_a_proper_answer_passes():
    sample, _, _ = ask("ok")
    assert sample.response == "Paris." and sample.output_tokens == 2 and sample.finish_reason == "stop"


@pytest.mark.parametrize(
    "fault, message, unresponsive, most_s",
    [
        ("hang", r"(sent no answer, not even headers, for|sent no first token within) 1.3 s", True, 3.5),
        ("stall", r"stalled: sent nothing for 0.5 s after 1 tokens", True, 3.0),
        (Fault("drip", interval=0.2), r"did not finish 8 tokens within 1.1 s of its first token \(slower than 10 tokens/s\)", True, 3.5),
        ("endless", r"ignored max_tokens: streamed more than 32 chunks .*stopped reading", False, 2.5),
        ("cutoff", r"ended the stream after 3 tokens without \[DONE\] \(finish_reason=None\): cut off, not an answer", False, 2.5),
        ("garbage", r"sent garbage in its stream \(Expecting property name enclosed in double quotes\): .*\{'choices'", False, 2.5),
        ("list_chunk", r"sent a chunk that is a JSON list, not an object: '\[\{\"delta\"", False, 2.5),
        ("refuse", r"closed the connection without answering", True, 2.5),
    ],
    ids=lambda value: value.kind if isinstance(value, Fault) else None,
)
def test_a_faulty_stream_fails_its_request_quickly_with_one_clear_line(fault, message, unresponsive, most_s):
    raised, seconds, url = ask(fault)
    assert isinstance(raised, ServerFault), raised
    assert str(raised).startswith(f"server {url} (model served-model): ")
    assert re.search(message, str(raised)), str(raised)
    assert raised.unresponsive is unresponsive
    assert seconds < most_s
    assert "\n" not in str(raised) and len(str(raised)) < 400


@pytest.mark.parametrize("value, shown", [(2.5, "2.5"), ("12", '"12"'), (math.nan, "NaN"), (math.inf, "Infinity"), (-math.inf, "-Infinity"), (-7, "-7"), (True, "true"), ({"n": 1}, '{"n": 1}')])
def test_a_bad_token_count_fails_the_request_naming_the_server_and_the_value(value, shown):
    raised, _, url = ask(Fault("bad_tokens", value=value))
    assert isinstance(raised, ServerFault)
    assert str(raised) == f"server {url} (model served-model): sent usage.completion_tokens = {shown}, not a whole number >= 0"


def test_a_whole_number_sent_as_a_float_is_taken():
    sample, _, _ = ask(Fault("bad_tokens", value=2.0))
    assert sample.output_tokens == 2 and isinstance(sample.output_tokens, int)


def test_an_http_error_echoing_the_key_never_repeats_it():
    raised, _, _ = ask("http_error", api_key=SECRET)
    assert isinstance(raised, ServerFault) and "answered 401" in str(raised)
    assert SECRET not in str(raised) and "Bearer [redacted]" in str(raised)


def test_redact_masks_the_given_secret_and_anything_shaped_like_a_key():
    text = f'key {SECRET} "Authorization": "Bearer abc.def" api_key=hunter22 {{"api-key": "zzz123"}} sk-abcdefgh12345'
    masked = redact(text, [SECRET])
    for secret in (SECRET, "abc.def", "hunter22", "zzz123", "sk-abcdefgh12345"):
        assert secret not in masked
    assert masked.count("[redacted]") == 5 and "[redacted]]" not in masked


def test_server_timings_keep_figures_and_refuse_bad_ones():
    from .fake_openai import serve_stream

    def stream(timings):
        return [(0, chunk(content="4")), (0, {**chunk(finish="stop"), "timings": timings}), (0, "data: [DONE]")]

    with serve_stream(stream({"prompt_ms": 12.5, "predicted_n": 1, "note": "text is left out", "nested": {"a": 1}})) as (url, _):
        assert ChatClient(url, "m").chat([]).server_timings == {"prompt_ms": 12.5, "predicted_n": 1}
    with serve_stream([(0, chunk(content="4")), (0, 'data: {"choices": [], "timings": {"prompt_ms": NaN}}'), (0, "data: [DONE]")]) as (url, _):
        with pytest.raises(ServerFault, match=r"sent timings.prompt_ms = nan, not a finite figure >= 0"):
            ChatClient(url, "m").chat([])


def test_an_error_inside_the_stream_is_the_error():
    from .fake_openai import serve_stream

    with serve_stream([(0, 'data: {"error": {"message": "out of memory"}}')]) as (url, _):
        with pytest.raises(ServerFault, match=r"sent an error in its stream: \{\"message\": \"out of memory\"\}"):
            ChatClient(url, "m").chat([])


def test_an_answer_that_is_not_an_event_stream_is_a_fault():
    import httpx

    client = ChatClient("http://model.invalid", "m", transport=httpx.MockTransport(lambda r: httpx.Response(200, json={"choices": []})))
    with pytest.raises(ServerFault, match="answered with something other than an event stream"):
        client.chat([])


def test_a_hard_cap_bounds_a_request_whatever_the_other_limits_allow():
    raised, seconds, _ = ask(Fault("drip", interval=0.1), limits=Limits(stall_s=5, max_request_s=0.6), max_tokens=1000)
    assert isinstance(raised, ServerFault) and raised.unresponsive
    assert str(raised).endswith("did not finish within 0.6 s (max_request_s)"), str(raised)
    assert seconds < 3.0


def test_the_default_limits_leave_a_healthy_slow_machine_a_wide_margin():
    limits = Limits()
    # The default model on 2 cores: first token < 1 s (10 s for a 1000-token prompt), 25 tokens/s.
    assert limits.first_token_allowance(ASK) >= 30
    thousand_tokens = [{"role": "user", "content": "word " * 1000}]  # ~1000 tokens, 5000 characters
    assert limits.first_token_allowance(thousand_tokens) >= 5 * 10
    assert limits.decode_allowance(128) >= 10 * 128 / 25  # ten times slower than the default model still passes
    assert limits.stall_s >= 10  # a 1 token/s model has 1 s gaps
    assert limits.output_cap(128) >= 2 * 128
    # ...and a hung server costs well under a minute (it used to cost 300 s per prompt).
    assert limits.first_token_allowance(ASK) <= 35 and limits.stall_s <= 30


def test_a_healthy_stream_at_a_slow_pace_passes_the_default_limits():
    from .fake_openai import serve_stream

    script = [(0.3, chunk(content=""))] + [(0.04, chunk(content=f" w{i}")) for i in range(40)] + [
        (0, chunk(finish="length")), (0, chunk(usage={"prompt_tokens": 9, "completion_tokens": 40})), (0, "data: [DONE]")]
    with serve_stream(script) as (url, _):
        sample = ChatClient(url, "m").chat(ASK, max_tokens=40)
    assert sample.output_tokens == 40 and sample.finish_reason == "length"


def test_limits_are_checked_and_parsed():
    assert Limits.parse(["stall_s=2", "first-token-s=3.5", "default_max_tokens=64"]) == Limits(stall_s=2, first_token_s=3.5, default_max_tokens=64)
    with pytest.raises(Exception, match="expected NAME=NUMBER"):
        Limits.parse(["nope=1"])
    with pytest.raises(Exception, match="must be a number above 0"):
        Limits(stall_s=0)


# --- CSV: a cell a spreadsheet would read as a formula, also behind blanks ---


@pytest.mark.parametrize("answer", ["=1+1", " =HYPERLINK(\"http://x\")", "\t=cmd|' /C calc'!A0", "  @SUM(A1)", " +1", "\n-2", "\uff1d1"])
def test_csv_defuses_formulas_behind_leading_blanks(answer):
    import csv
    import io

    from .synthetic_reports import simple_report

    report = simple_report("run")
    report.models[0].prompts[0].samples[0].response = answer
    rows = list(csv.DictReader(io.StringIO(render_csv(run_view(report)))))
    assert rows[0]["answer"] == "'" + answer


def test_csv_leaves_plain_answers_alone():
    import csv
    import io

    from .synthetic_reports import simple_report

    report = simple_report("run")
    report.models[0].prompts[0].samples[0].response = " Paris = capital"
    rows = list(csv.DictReader(io.StringIO(render_csv(run_view(report)))))
    assert rows[0]["answer"] == " Paris = capital"


# --- latest.json and latest.html: the same run, always ---


def test_latest_html_follows_latest_json_even_when_another_run_writes_in_between(tmp_path):
    from bakeoff.report.store import publish_latest_html, write_report

    from .synthetic_reports import simple_report

    first, second = simple_report("run-a"), simple_report("run-b")
    second.status, second.incomplete_reason = "incomplete", "run in progress"
    write_report(first, tmp_path)
    page = tmp_path / "run-a.html"
    page.write_text("<html>the page of run-a</html>")
    assert publish_latest_html(first, tmp_path, page)
    assert (tmp_path / "latest.html").read_text() == page.read_text()
    write_report(second, tmp_path)  # another run saves while run-a draws its page
    assert not publish_latest_html(first, tmp_path, page)
    assert json.loads((tmp_path / "latest.json").read_text())["run_id"] == "run-b"
    latest_html = (tmp_path / "latest.html").read_text()
    assert 'content="run-b"' in latest_html and "run in progress" in latest_html
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no lock file left


# --- Real `pytest evals` runs of endpoint models on fault servers ---



def endpoint_model(name: str, url: str, **source) -> dict:
    return {"name": name, "task": "chat", "min_ram_gb": 0, "notes": "", "runtime": "endpoint",
            "source": {"type": "openai-endpoint", "base_url": f"{url}/v1", "model": "served-model", **source}}


def latest(pytester) -> dict:
    """latest.json, checked to be a valid report, as plain data."""
    path = pytester.path / "reports" / "latest.json"
    load_report(path)
    return json.loads(path.read_text())


def test_a_server_that_stops_answering_fails_its_model_once_and_the_run_moves_on(eval_project):
    with FaultServer(["ok", "stall"]) as stalling, FaultServer(["ok"]) as healthy:
        project = eval_project(models=[endpoint_model("stalls", stalling.url), endpoint_model("healthy", healthy.url)], prompts=PROMPTS, test=TEST)
        started = time.perf_counter()
        result = project.runpytest_subprocess("-p", "no:cacheprovider", "--bakeoff-limit", "stall_s=1", "--bakeoff-launches", "1")
        seconds = time.perf_counter() - started
        assert len(stalling.requests) == 2  # the third prompt was not sent to a server that stopped answering
    out = result.stdout.str()
    assert result.ret == 1, out[-3000:]
    assert seconds < 30
    result.stdout.fnmatch_lines([f"*stalls: server {stalling.url} (model served-model): stalled: sent nothing for 1 s after 1 tokens; server log: *"])
    result.stdout.fnmatch_lines(["*not asked: stalls: server*stalled*"])
    assert "Traceback" not in out
    report = latest(project)
    stalls, good = report["models"]
    assert stalls["status"] == "failed" and "stalled: sent nothing for 1 s" in stalls["reason"]
    assert [p["passed"] for p in stalls["prompts"]] == [True, False, False]
    assert stalls["prompts"][2]["error"].startswith("not asked: ")
    assert good["status"] == "ran" and all(p["passed"] for p in good["prompts"])
    assert report["status"] == "complete"
    assert "Ship healthy" in out


def test_a_model_reporting_impossible_figures_fails_those_requests_and_is_never_recommended(eval_project):
    with FaultServer([Fault("bad_tokens", value=-7)]) as liar, FaultServer(["ok", Fault("bad_tokens", value=2.5), "ok"]) as sloppy:
        project = eval_project(models=[endpoint_model("liar", liar.url), endpoint_model("sloppy", sloppy.url)], prompts=PROMPTS, test=TEST)
        result = project.runpytest_subprocess("-p", "no:cacheprovider")
    out = result.stdout.str()
    assert result.ret == 1, out[-3000:]
    result.stdout.fnmatch_lines([f"*liar: server {liar.url} (model served-model): sent usage.completion_tokens = -7, not a whole number >= 0*"])
    report = latest(project)  # valid: the bad values never reached it
    liar_record, sloppy_record = report["models"]
    assert liar_record["status"] == "failed" and [p["passed"] for p in liar_record["prompts"]] == [False] * 3  # every prompt was asked
    assert sloppy_record["status"] == "failed" and [p["passed"] for p in sloppy_record["prompts"]] == [True, False, True]
    assert "2.5" in sloppy_record["prompts"][1]["error"]
    assert "No model ran, so there is nothing to recommend" in out
    assert "Ship" not in out


def test_the_api_key_never_reaches_the_report_the_page_the_csv_or_the_output(eval_project, monkeypatch):
    monkeypatch.setenv("REMOTE_KEY", SECRET)
    with FaultServer(["http_error"]) as server:
        project = eval_project(models=[endpoint_model("remote", server.url, api_key_env="REMOTE_KEY")], prompts=PROMPTS, test=TEST)
        result = project.runpytest_subprocess("-p", "no:cacheprovider", "-rA", "--showlocals")
        assert all(h.get("Authorization") == f"Bearer {SECRET}" for h in server.headers_seen)
    reports = project.path / "reports"
    csv_path = reports / "run.csv"
    shown = subprocess.run([sys.executable, "-m", "bakeoff", "report", str(reports / "latest.json"), "--csv", str(csv_path)],
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "answered 401" in latest(project)["models"][0]["prompts"][0]["error"]
    everything = [result.stdout.str(), result.stderr.str(), shown.stdout, shown.stderr, csv_path.read_text()]
    everything += [path.read_text() for path in reports.iterdir() if path.suffix in (".json", ".html")]
    assert "Bearer [redacted]" in result.stdout.str()
    assert not [text[:200] for text in everything if SECRET in text]


def test_collect_only_leaves_the_last_report_alone(eval_project):
    with FaultServer(["ok"]) as server:
        project = eval_project(models=[endpoint_model("remote", server.url)], prompts=PROMPTS, test=TEST)
        assert project.runpytest_subprocess("-p", "no:cacheprovider").ret == 0
        before = {p.name: p.read_bytes() for p in (project.path / "reports").iterdir()}
        result = project.runpytest_subprocess("-p", "no:cacheprovider", "--collect-only", "-q")
    assert result.ret == 0
    after = {p.name: p.read_bytes() for p in (project.path / "reports").iterdir()}
    assert after == before and latest(project)["status"] == "complete"
    html_page = (project.path / "reports" / "latest.html").read_text()
    assert latest(project)["run_id"] in html_page and "Its page is written when the run ends" not in html_page


# --- Signals: SIGTERM stops a run like Ctrl-C; after SIGKILL the last report stands ---


def wait_for(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout_s} s: {what}")


def prompts_done(pytester) -> int:
    try:
        data = json.loads((pytester.path / "reports" / "latest.json").read_text())
    except (OSError, ValueError):
        return 0
    return sum(len(m["prompts"]) for m in data["models"])


def start_run(pytester, *args: str) -> subprocess.Popen:
    return pytester.popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_run_killed_mid_request_leaves_a_valid_report_that_says_incomplete(eval_project, sig):
    with FaultServer(["ok", Fault("drip", interval=0.5)]) as server:
        project = eval_project(models=[endpoint_model("remote", server.url)], prompts=PROMPTS, test=TEST)
        run = start_run(project)
        try:
            wait_for(lambda: prompts_done(project) >= 1 and len(server.requests) >= 2, 60, "the first prompt answered, the second asked")
            mid_run = latest(project)  # saved after every prompt: valid, and says the run is not over
            assert mid_run["status"] == "incomplete" and mid_run["incomplete_reason"] == "run in progress"
            time.sleep(1.0)  # inside the dripping request
            killed = time.perf_counter()
            run.send_signal(sig)
            output = run.communicate(timeout=30)[0].decode()
            seconds = time.perf_counter() - killed
        finally:
            if run.poll() is None:
                run.kill()
    report = latest(project)
    assert report["status"] == "incomplete"
    if sig == signal.SIGTERM:
        assert run.returncode == pytest.ExitCode.INTERRUPTED and seconds < 10, output[-2000:]
        assert report["incomplete_reason"] == "terminated (SIGTERM)" and report["finished_at"]
        assert "INCOMPLETE: terminated (SIGTERM)" in output
        assert (project.path / "reports" / f"{report['run_id']}.html").exists()
    else:
        assert run.returncode == -signal.SIGKILL
        assert report["incomplete_reason"] == "run in progress" and report["run_id"] == mid_run["run_id"]


def test_sigterm_stops_the_servers_the_run_started(eval_project, monkeypatch, tmp_path):
    """The stand-in `ollama serve` (tests/standins) is a real process the run starts through `bakeoff serve`."""
    standins = os.path.join(os.path.dirname(__file__), "standins")
    monkeypatch.setenv("PATH", f"{standins}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("BAKEOFF_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("OLLAMA_STANDIN_MODELS", "m:1")
    models = [{"name": "m", "task": "chat", "min_ram_gb": 0, "notes": "", "runtime": "ollama", "source": {"type": "ollama", "model": "m:1"}}]
    slow_test = (
        "import pathlib, time\n"
        "def test_prompt(model, prompt, evaluate):\n"
        "    evaluate(model, prompt)\n"
        "    pathlib.Path('server.pid').write_text(str(model.pid))\n"
        "    time.sleep(120)\n"
    )
    project = eval_project(models=models, prompts=PROMPTS, test=slow_test)
    run = start_run(project)
    try:
        pid = int(wait_for(lambda: (project.path / "server.pid").exists() and (project.path / "server.pid").read_text(), 90, "the first prompt"))
        tree = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
        run.send_signal(signal.SIGTERM)
        output = run.communicate(timeout=60)[0].decode()
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == pytest.ExitCode.INTERRUPTED, output[-2000:]
    report = latest(project)
    assert report["status"] == "incomplete" and report["incomplete_reason"] == "terminated (SIGTERM)"
    gone, alive = psutil.wait_procs(tree, timeout=10)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
