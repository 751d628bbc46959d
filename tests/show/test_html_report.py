"""The HTML page: self-contained, answers escaped, charts and matrix present; the CSV; `bakeoff report`."""

from __future__ import annotations

import csv
import io
import json
from html.parser import HTMLParser

import pytest

from bakeoff.cli import main
from bakeoff.decide.compare import compare_reports
from bakeoff.decide.recommend import recommend
from bakeoff.report.model import Report
from bakeoff.show.csv_report import render_csv
from bakeoff.show.html_report import render_html, write_html
from bakeoff.show.summary import run_view
from bakeoff.show.table import run_lines

from ..synthetic_reports import model, prompt, report, samples

pytest_plugins = ["pytester"]

PAYLOAD = '<script>alert(1)</script><img src=x onerror="alert(2)"><b>bold</b>'


class Page(HTMLParser):
    """The elements a browser would build from the page, with their attributes and text."""

    def __init__(self, text: str):
        super().__init__()
        self.elements: list[tuple[str, dict]] = []
        self.stack: list[dict] = []
        self.texts: dict[str, str] = {}  # id -> text inside the element
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.elements.append((tag, attributes))
        if tag not in ("meta", "img", "br", "input", "link"):  # void elements have no end tag
            self.stack.append({"tag": tag, "id": attributes.get("id"), "text": []})

    def handle_startendtag(self, tag, attrs):  # <path .../> in SVG
        self.elements.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        while any(element["tag"] == tag for element in self.stack):
            element = self.stack.pop()
            if element["id"]:
                self.texts[element["id"]] = "".join(element["text"])
            if element["tag"] == tag:
                break

    def handle_data(self, data):
        for element in self.stack:
            element["text"].append(data)

    def tags(self, name: str) -> list[dict]:
        return [attrs for tag, attrs in self.elements if tag == name]


def page_of(data: Report, comparison: dict | None = None) -> str:
    return render_html(run_view(data), comparison)


def csv_rows(data: Report) -> list[dict]:
    return list(csv.DictReader(io.StringIO(render_csv(run_view(data)))))


def two_model_report(**changes) -> Report:
    hostile = samples(0.4, 30.0, [True, True], n=3)
    for sample in hostile:
        sample["response"] = PAYLOAD
    fast = model("fast-model", [prompt("echo", hostile), prompt("sum", samples(0.3, 40.0, [True], n=3, seed=1))],
                 rss_after_load_bytes=600 * 1024**2)
    slow = model("slow-model", [prompt("echo", samples(0.9, 12.0, [True, False], n=3, seed=2)),
                                prompt("sum", samples(1.1, 11.0, [True], n=3, seed=3))], ready_seconds=9.0)
    skipped = model("huge-model", [], status="skipped", reason="huge-model needs 64 GB RAM; this machine has 23.5 GB",
                    peak_rss_bytes=None, ready_seconds=None)
    data = report([fast, slow, skipped], "20261122T210000Z-abcdef")
    data.update(**changes)
    return data


def test_an_answer_full_of_html_is_shown_as_text_and_adds_no_element():
    page_text = page_of(two_model_report())
    page = Page(page_text)
    assert page.tags("script") == [] and page.tags("img") == [] and page.tags("b") == []
    shown = [text for ident, text in page.texts.items() if ident.startswith("answer-0-echo")]
    assert shown and PAYLOAD in shown[0]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page_text


def test_the_page_fetches_nothing_and_runs_nothing():
    page = Page(page_of(two_model_report()))
    csp = [m["content"] for m in page.tags("meta") if m.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0] and "script-src" not in csp[0]
    for tag, attrs in page.elements:
        for name in ("src", "href", "xlink:href", "action", "data"):
            value = attrs.get(name)
            assert value is None or value.startswith("#"), (tag, name, value)
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)


def test_the_charts_show_each_model_that_ran_with_every_sample():
    data = two_model_report()
    page_text = page_of(data)
    page = Page(page_text)
    figures = [attrs["id"] for attrs in page.tags("figure")]
    assert figures == ["chart-ready", "chart-ttft", "chart-decode", "chart-rss"]
    assert len(page.tags("svg")) == 4
    # Distributions, not only means: every TTFT sample of each model is a dot.
    for row, name in enumerate(["fast-model", "slow-model"]):
        start = page_text.index(f'id="ttft-samples-{row}"')
        group = page_text[start : page_text.index("</g>", start)]
        assert group.count("<use") == 6  # 2 prompts x 3 samples
        assert name in page.texts["chart-ttft"]
    assert "huge-model" not in page.texts["chart-ttft"]  # did not run: listed, not charted
    assert "huge-model needs 64 GB RAM" in page.texts["models"]


def test_the_matrix_has_a_cell_per_model_and_prompt_linking_to_its_answers():
    page = Page(page_of(two_model_report()))
    cells = [a for a in page.tags("a") if a.get("class") in ("pass", "fail", "error")]
    assert len(cells) == 4
    assert {c["class"] for c in cells} == {"pass", "fail"}
    ids = {attrs.get("id") for _, attrs in page.elements}
    for cell in cells:
        assert cell["href"].startswith("#answer-") and cell["href"][1:] in ids
    failing = next(c for c in cells if c["class"] == "fail")
    assert "check 1" in failing["title"]


def test_the_recommendation_picks_the_fast_model_that_passed_everything():
    data = two_model_report()
    advice = recommend(data)
    assert advice.choice == ("fast-model", "foundry")
    assert advice.text.startswith("Ship fast-model: it passed the checks of all 2 prompts")
    assert "slow-model passed 1 of 2" in advice.text
    assert advice.text in Page(page_of(data)).texts["recommendation"]


def test_recommendation_without_a_clean_model_names_what_failed_and_the_incomplete_run():
    data = two_model_report(status="incomplete", incomplete_reason="interrupted")
    data.models = [data.models[1]]
    text = recommend(data).text
    assert text.startswith("This run is incomplete (interrupted)")
    assert "No model passed every check. The best, slow-model, passed 1 of 2 prompts (failed: echo)" in text
    assert Page(page_of(data)).texts["incomplete"] == "Incomplete run: interrupted"
    assert recommend(report([model("gone", [], status="not_run", reason="the session ended")])).choice is None


def test_a_model_on_two_runtimes_is_two_rows_named_by_runtime():
    data = two_model_report()
    twin = data.models[0].model_copy(deep=True)
    twin.runtime = "llamacpp"
    data.models.append(twin)
    page = Page(page_of(data))
    assert "fast-model (foundry)" in page.texts["chart-ttft"] and "fast-model (llamacpp)" in page.texts["chart-ttft"]
    assert any(line.startswith("fast-model (llamacpp)") for line in run_lines(run_view(data)))


def test_the_baseline_comparison_marks_better_and_worse():
    baseline = two_model_report(run_id="base")
    candidate = two_model_report()
    for data in (baseline, candidate):  # each attempt in a launch of its own: three launches a side
        for prompt_result in data.models[1].prompts:
            for launch, sample in enumerate(prompt_result.samples):
                sample.launch = launch
    for sample in candidate.models[1].prompts[0].samples + candidate.models[1].prompts[1].samples:
        sample.ttft_s *= 3  # slow-model got three times slower to its first token
    comparison = compare_reports(baseline, candidate).to_dict()
    page_text = page_of(candidate, comparison)
    section = Page(page_text).texts["baseline"]
    assert "baseline base" in section and comparison["recommendation"] in section
    assert "▼ worse" in section and 'class="worse"' in page_text
    assert "FAIL" in section  # the TTFT gate


def test_ratings_and_fields_of_later_report_versions_are_shown():
    data = two_model_report()
    record = data.models[0].prompts[1]
    record.ratings = [
        {"samples": [0], "accuracy": 4, "clarity": 5, "completeness": 3, "rater": "ana", "rated_at": "2026-11-22T22:10:00+00:00"},
        {"samples": [1, 2], "accuracy": 2, "clarity": 4, "completeness": 2, "rater": None, "rated_at": "2026-11-22T22:11:00+00:00"},
    ]
    record.samples[0].response = "a first answer"
    record.attempt_pass_rate, record.pass_k, record.future_figure = 2 / 3, False, 1.5
    page = Page(page_of(data))
    answer = page.texts["answer-0-sum"]
    assert "rated: accuracy 4, clarity 5, completeness 3 (ana)" in answer
    assert "rated: accuracy 2, clarity 4, completeness 2" in answer
    assert "attempts passing every check 67%" in answer and "pass^k no" in answer and "future_figure 1.50" in answer
    assert "accuracy 3.0, clarity 4.5, completeness 2.5 (2 ratings)" in page.texts["models"]
    rows = csv_rows(data)
    row = next(r for r in rows if r["model"] == "fast-model" and r["prompt"] == "sum")
    assert row["ratings"] == "accuracy 3.0, clarity 4.5, completeness 2.5 (2 ratings)"
    assert row["pass_k"] == "False" and row["future_figure"] == "1.5"


def test_csv_has_a_row_per_model_and_prompt_and_defuses_formulas():
    data = two_model_report()
    data.models[1].prompts[1].samples[0].response = "=HYPERLINK(\"http://x\")"
    rows = csv_rows(data)
    assert [(r["model"], r["prompt"]) for r in rows] == [
        ("fast-model", "echo"), ("fast-model", "sum"), ("slow-model", "echo"), ("slow-model", "sum"), ("huge-model", ""),
    ]
    echo = rows[0]
    assert echo["answer"] == PAYLOAD and echo["passed"] == "True" and echo["checks_passed"] == "2"
    assert float(echo["ttft_ms_median"]) == pytest.approx(400, rel=0.1)
    assert rows[2]["checks"] == "check 0: pass 100%; check 1: FAIL 0%"
    assert rows[3]["answer"] == "'=HYPERLINK(\"http://x\")"
    assert rows[4]["model_status"] == "skipped" and "needs 64 GB" in rows[4]["model_reason"]


def test_the_table_fits_80_columns_with_long_names_reasons_and_many_models():
    data = two_model_report()
    data.models[2].reason = "a very long reason " * 12
    for index in range(6):
        extra = data.models[0].model_copy(deep=True)
        extra.name = f"deepseek-r1-distill-qwen-7b-variant-{index}"
        data.models.append(extra)
    lines = run_lines(run_view(data))
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    # The same comparison as the page: the matrix's cells and the recommendation.
    assert any(line.startswith("echo") and "ok 2/2" in line and "FAIL 1/2" in line for line in lines)
    assert " ".join(lines).count("deepseek-r1-distill-qwen-7b-v") >= 6
    assert recommend(data).text.split()[0] in " ".join(lines)


def test_write_html_puts_the_page_beside_the_json_and_as_latest(tmp_path):
    data = two_model_report()
    path = write_html(run_view(data), tmp_path)
    assert path == tmp_path / f"{data.run_id}.html"
    assert (tmp_path / "latest.html").read_text() == path.read_text()


def test_bakeoff_report_renders_a_stored_report_with_baseline_and_csv(tmp_path, capsys):
    stored = tmp_path / "run.json"
    stored.write_text(two_model_report().to_json())
    base = tmp_path / "base.json"
    base.write_text(two_model_report(run_id="base").to_json())
    assert main(["report", str(stored), "--baseline", str(base), "--csv", str(tmp_path / "run.csv"),
                 "--config", str(tmp_path / "none.toml")]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "run.html"), str(tmp_path / "run.csv")]
    page = Page((tmp_path / "run.html").read_text())
    assert "baseline base" in page.texts["baseline"]
    assert (tmp_path / "run.csv").read_text(encoding="utf-8-sig").startswith("run_id,model,")
    assert main(["report", str(stored), "-o", str(tmp_path / "elsewhere" / "page.html")]) == 0
    assert "id=\"baseline\"" not in (tmp_path / "elsewhere" / "page.html").read_text()


def test_bakeoff_report_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    broken = tmp_path / "broken.json"
    broken.write_text('{"schema": "bakeoff.report/1"}')
    assert main(["report", str(broken)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"bakeoff: error: {broken}") and error.count("\n") == 1
    assert not (tmp_path / "broken.html").exists()


def test_a_session_that_stops_early_still_writes_its_page(pytester):
    pytester.makefile(".json", models=json.dumps([{"name": "huge", "task": "chat", "min_ram_gb": 100000, "notes": ""}]))
    pytester.makefile(".yaml", prompts="prompts:\n  - {id: a, text: hi, checks: [{contains: hi}]}\n")
    pytester.makepyfile(test_evals="def test_first():\n    assert False\n\ndef test_prompt(model, prompt, evaluate):\n    pass\n")
    result = pytester.runpytest_subprocess("-x")
    assert result.ret == 1
    stored = json.loads((pytester.path / "reports" / "latest.json").read_text())
    assert stored["status"] == "incomplete"
    page_path = pytester.path / "reports" / f"{stored['run_id']}.html"
    result.stdout.fnmatch_lines([f"html: {page_path}"])
    page = Page(page_path.read_text())
    assert page.texts["incomplete"] == "Incomplete run: models not run: huge"
    assert "huge" in page.texts["models"] and "No model ran" in page.texts["recommendation"]


def test_each_runtime_is_named_once_by_its_display_name():
    data = two_model_report()
    data.environment.runtimes = {"llamacpp": "b1234"}
    twin = data.models[0].model_copy(deep=True)
    twin.update(runtime="llamacpp", runtime_version="b1234")
    data.models.append(twin)
    data.models[0].runtime_version = "2.2.1"
    page = Page(page_of(data))
    header = page.texts["machine"]
    assert "llama.cpp b1234" in header and "Foundry Local 2.2.1" in header
    assert "llamacpp b1234" not in page_of(data)  # the key names the runtime in data, never on the page
    assert "llama.cpp b1234" in page.texts["models"] and "Foundry Local 2.2.1" in page.texts["models"]


def test_the_page_of_a_distributed_run_shows_its_workers_hosts_and_notes():
    from bakeoff.report.model import Distribution, Worker

    note = "gw0 and gw1 measured at the same time on host ci-1: their timings are not like for like (their checks are)"
    distribution = Distribution(
        workers=[Worker(id="gw0", host="ci-1", models=["fast-model@foundry", "huge-model@foundry"]), Worker(id="gw1", host="ci-1", models=["slow-model@foundry"])],
        shared_host=True,
        notes=[note],
    )
    page = Page(page_of(two_model_report(distribution=distribution)))

    shown = page.texts["distribution"]
    assert "gw0" in shown and "ci-1" in shown and "fast-model@foundry, huge-model@foundry" in shown and "slow-model@foundry" in shown
    assert note in shown and "Shared host" in shown and "timing gates do not judge" in shown
    assert any(a.get("href") == "#distribution" for a in page.tags("a"))
    # A serial run has no such section, and one on machines of its own no shared-host banner.
    assert "distribution" not in Page(page_of(two_model_report())).texts
    alone = Page(page_of(two_model_report(distribution=distribution.model_copy(update={"shared_host": False, "notes": []}))))
    assert "gw1" in alone.texts["distribution"] and "Shared host" not in alone.texts["distribution"]


def test_the_page_shows_where_each_models_timing_noise_is():
    """Launches far apart and requests close: the between-launch column is the larger, per model and figure."""
    noisy = model("noisy-model", [prompt("echo", samples(0.4, 30.0, [True], n=12, launches=4, launch_spread=0.2, spread=0.01))])
    text = page_of(report([noisy], "20261123T090000Z-abcdef"))
    assert "Where the noise is" in Page(text).texts["noise"]
    table = text[text.index('id="noise"'):]
    start = table.index("<td>decode tokens/s</td>")
    cells = table[start:table.index("</tr>", start)].split("</td>")
    assert cells[1] == '<td class="num">4'  # launches
    assert cells[2].startswith('<td class="num larger">±') and cells[3].startswith('<td class="num">±')


def test_answers_show_percentiles_with_their_intervals_and_open_sides():
    from bakeoff.decide.stats import summarize
    from bakeoff.metrics import METRICS

    data = report([model("m", [prompt("echo", samples(0.4, 30.0, [True], n=18))])], "20261123T090000Z-abcdef")
    result = data.models[0].prompts[0]
    result.stats = {"ttft_s": summarize(METRICS["ttft_s"].values(result.samples))}
    text = page_of(data)
    line = text[text.index('class="muted percentiles"'):]
    line = line[:line.index("</div>")]
    assert "time to first token: median" in line and "p90" in line and "p99" in line
    assert "ms, …]" in line  # 18 samples bound p90 and p99 from below only


def test_the_baseline_comparison_shows_between_and_within_launch_noise():
    baseline, candidate = (report([model("m", [prompt("echo", samples(0.4, 30.0, [True], n=9, seed=seed, launches=3, launch_spread=0.1))])],
                                  f"2026112{seed}T090000Z-abcdef") for seed in (1, 2))
    comparison = compare_reports(baseline, candidate).to_dict()
    section = Page(page_of(candidate, comparison)).texts["baseline"]
    assert "noise: between / within launches" in section
    ttft = next(r for r in comparison["rows"] if r["metric"] == "ttft_s" and r["prompt"] is None)
    assert f"±{ttft['between_launch_sd']:.1%} / ±{ttft['within_launch_sd']:.1%}" in section
