"""`bakeoff compare`, `bakeoff baseline promote` and `bakeoff gate`: output, JSON and exit codes."""

import json
import subprocess
import sys

import pytest

from bakeoff.cli import main

from .synthetic_reports import model, prompt, report, samples, simple_report


def save(tmp_path, name, data) -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else data.to_json())
    return str(path)


@pytest.fixture
def no_config(tmp_path):
    return ["--config", str(tmp_path / "no-pyproject.toml")]


def test_compare_same_runs_exits_0(tmp_path, capsys, no_config):
    base = save(tmp_path, "a.json", simple_report("run-a", seed=1, launches=4))
    cand = save(tmp_path, "b.json", simple_report("run-b", seed=2, launches=4))
    assert main(["compare", base, cand, *no_config]) == 0
    out = capsys.readouterr().out
    assert "baseline run-a  ->  candidate run-b" in out
    assert "qwen (foundry), all prompts" in out and "qwen (foundry), short" in out
    assert "TTFT" in out and "no change" in out
    assert all(len(line) <= 80 for line in out.splitlines())
    assert " ".join(out.split()).endswith("the candidate holds up against the baseline.")


def test_compare_single_launch_runs_says_inconclusive_and_where_the_noise_is(tmp_path, capsys, no_config):
    base = save(tmp_path, "a.json", simple_report("run-a", seed=1, n=3))
    cand = save(tmp_path, "b.json", simple_report("run-b", seed=2, n=3))
    assert main(["compare", base, cand, "--detail", *no_config]) == 0  # inconclusive = "pass" by default
    out = capsys.readouterr().out
    timing = [line for line in out.splitlines() if line.lstrip().startswith(("TTFT", "total", "decode", "ITL"))]
    assert timing and all("inconclusive" in line and "better" not in line and "WORSE" not in line for line in timing)
    assert "too few samples" in out and "[" not in "".join(line for line in timing if "too few" in line)
    assert "where the noise is" in out and "between launches unknown (one launch a side)" in out
    assert "could not settle" in out
    (tmp_path / "strict.toml").write_text("[tool.bakeoff]\ninconclusive = 'fail'\n")
    assert main(["compare", base, cand, "--config", str(tmp_path / "strict.toml")]) == 1
    assert "FAIL?" in capsys.readouterr().out


def test_compare_regression_exits_1_with_the_reasons(tmp_path, capsys, no_config):
    base = save(tmp_path, "a.json", simple_report("run-a", seed=1, launches=4))
    cand = save(tmp_path, "b.json", simple_report("run-b", ttft=0.8, seed=2, checks=(True, False), launches=4))
    assert main(["compare", base, cand, *no_config]) == 1
    out = capsys.readouterr().out
    assert "gates failed:" in out
    assert "qwen (foundry): time to first token: changed +6" in out  # +60%
    assert "check(s) passed before and fail now: short: check 1" in out
    assert "Do not accept this run" in out


def test_compare_json(tmp_path, capsys, no_config):
    base = save(tmp_path, "a.json", simple_report("run-a"))
    cand = save(tmp_path, "b.json", simple_report("run-b", peak_rss=2 * 1024**3))
    assert main(["compare", base, cand, "--json", *no_config]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["failed"] is True
    [rss] = [r for r in data["rows"] if r["metric"] == "peak_rss_bytes"]
    assert rss["verdict"] == "worse" and rss["gate"]["passed"] is False


def test_compare_uses_the_gates_in_pyproject(tmp_path, capsys):
    config = tmp_path / "pyproject.toml"
    config.write_text("[[tool.bakeoff.gates]]\nmetric = 'ttft_s'\nmax_increase = 1.0\n")
    base = save(tmp_path, "a.json", simple_report("run-a", seed=1))
    cand = save(tmp_path, "b.json", simple_report("run-b", ttft=0.8, seed=2))
    assert main(["compare", base, cand, "--config", str(config)]) == 0


def test_different_hardware_is_said_loudly(tmp_path, capsys, no_config):
    base = save(tmp_path, "a.json", simple_report("run-a"))
    cand = save(tmp_path, "b.json", simple_report("run-b", cpu="Apple M3", cpu_count=8))
    main(["compare", base, cand, *no_config])
    out = capsys.readouterr().out
    assert out.count("!! NOT LIKE FOR LIKE") == 2  # at the top and again at the bottom
    assert "!! different CPU: AMD EPYC -> Apple M3" in out and "!! different CPU count: 2 -> 8" in out


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "cannot read report: not valid JSON: line 1 column 2: Expecting property name"),
        (json.dumps({"schema": "bakeoff.report/1", "run_id": "x"}), "field 'status': required"),
        (json.dumps({**simple_report("bad").to_data(), "models": [{"name": 3}]}), "field 'models.0"),
        (json.dumps({**simple_report("bad").to_data(), "schema": "bakeoff.report/9"}), "unknown report version 'bakeoff.report/9'"),
    ],
)
def test_corrupt_or_invalid_report_is_one_line_and_exit_2(tmp_path, capsys, content, message, no_config):
    good = save(tmp_path, "good.json", simple_report("good"))
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    for argv in (["compare", good, str(bad)], ["gate", "--from", "qwen", "--to", "qwen", str(bad)]):
        assert main([*argv, *no_config]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"bakeoff: error: {bad}: ") and message in err
        assert err.count("\n") == 1


def test_missing_report_is_exit_2(tmp_path, capsys, no_config):
    assert main(["compare", str(tmp_path / "nope.json"), str(tmp_path / "nope.json"), *no_config]) == 2
    assert "nope.json: cannot read report" in capsys.readouterr().err


def test_baseline_promote(tmp_path, capsys):
    latest = save(tmp_path, "latest.json", simple_report("run-7"))
    target = tmp_path / "reports" / "baseline.json"
    assert main(["baseline", "promote", latest, "--to", str(target)]) == 0
    assert json.loads(target.read_text())["run_id"] == "run-7"
    assert f"baseline {target} is now run run-7" in capsys.readouterr().out


def test_baseline_promote_defaults_to_the_configured_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.bakeoff]\nbaseline = 'golden/base.json'\n")
    (tmp_path / "reports").mkdir()
    save(tmp_path / "reports", "latest.json", simple_report("run-8"))
    assert main(["baseline", "promote"]) == 0
    assert json.loads((tmp_path / "golden" / "base.json").read_text())["run_id"] == "run-8"


def test_baseline_promote_refuses_an_incomplete_run(tmp_path, capsys):
    data = simple_report("run-9")
    data.update(status="incomplete", incomplete_reason="interrupted")
    latest = save(tmp_path, "latest.json", data)
    target = tmp_path / "baseline.json"
    assert main(["baseline", "promote", latest, "--to", str(target)]) == 2
    assert "incomplete run (interrupted); promote it anyway with --force" in capsys.readouterr().err
    assert not target.exists()
    assert main(["baseline", "promote", latest, "--to", str(target), "--force"]) == 0


def switch_report():
    small = model("small", [prompt("p", samples(0.3, 40, [True, True]))], peak_rss=1024**3)
    big = model("big", [prompt("p", samples(0.9, 12, [True, False], seed=5))], peak_rss=5 * 1024**3)
    return report([small, big], "r")


def test_gate_says_no_with_reasons_and_exit_1(tmp_path, capsys, no_config):
    path = save(tmp_path, "r.json", switch_report())
    registry = tmp_path / "models.json"
    registry.write_text(json.dumps([{"name": "big", "task": "chat", "min_ram_gb": 64, "notes": ""}]))
    assert main(["gate", "--from", "small", "--to", "big", path, "--models", str(registry), *no_config]) == 1
    out = capsys.readouterr().out
    assert "against the switch:" in out
    assert "big (foundry) needs 64 GB RAM (models.json); the machine has 23.5 GB" in out
    assert "TTFT" in out and "check 1" in out
    assert all(len(line) <= 80 for line in out.splitlines())
    verdict = out.rstrip().rsplit("\n\n", 1)[-1]  # the last paragraph, wrapped to 80 columns
    assert verdict.startswith("Do not switch from small (foundry) to big (foundry): ")


def test_gate_speaks_of_the_switch_only_and_says_too_few_samples(tmp_path, capsys, no_config):
    small = model("small", [prompt(p, samples(0.3, 40, [True], n=3, seed=i)) for i, p in enumerate(("p", "q"))], peak_rss=1024**3)
    big = model("big", [prompt(p, samples(0.9, 12, [True, i == 0], n=3, seed=5 + i)) for i, p in enumerate(("p", "q"))],
                peak_rss=5 * 1024**3)
    path = save(tmp_path, "r.json", report([small, big], "r"))
    assert main(["gate", "--from", "small@foundry", "--to", "big", path, *no_config]) == 1
    out = capsys.readouterr().out
    assert "Do not accept this run" not in out and "baseline promote" not in out  # no nightly advice, cut or whole
    paragraphs = [" ".join(p.split()) for p in out.strip().split("\n\n")]
    assert paragraphs[-1].startswith("Do not switch from small (foundry) to big (foundry): ") and paragraphs[-1].endswith(".")
    per_prompt = out[out.index("big (foundry), p\n"):]
    assert "too few samples" in per_prompt and "%, +" not in per_prompt  # no intervals from 3 samples


def test_gate_says_yes_within_budgets(tmp_path, capsys):
    config = tmp_path / "pyproject.toml"
    config.write_text(
        "[[tool.bakeoff.switch]]\nmetric = 'ttft_s'\nmax = 2.0\n"
        "[[tool.bakeoff.switch]]\nmetric = 'peak_rss_bytes'\nmax = 8e9\n"
    )
    data = switch_report()
    data.models[1].prompts = [prompt("p", samples(0.9, 12, [True, True], seed=5))]
    path = save(tmp_path, "r.json", data)
    assert main(["gate", "--from", "small", "--to", "big@foundry", path, "--config", str(config), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["allowed"] is True and result["reasons"] == []
    assert result["recommendation"].startswith("Yes, switch from small (foundry) to big (foundry)")


def test_gate_unknown_model_is_exit_2(tmp_path, capsys, no_config):
    path = save(tmp_path, "r.json", switch_report())
    assert main(["gate", "--from", "small", "--to", "huge", path, *no_config]) == 2
    assert "model huge is in none of the reports" in capsys.readouterr().err


def test_the_installed_command_exits_with_the_gate_status(tmp_path):
    base = save(tmp_path, "a.json", simple_report("run-a", seed=1, launches=4))
    cand = save(tmp_path, "b.json", simple_report("run-b", ttft=0.8, seed=2, launches=4))
    done = subprocess.run(
        [sys.executable, "-m", "bakeoff", "compare", base, cand, "--changes-only", "--config", str(tmp_path / "none.toml")],
        capture_output=True, text=True,
    )
    assert done.returncode == 1 and "gates failed:" in done.stdout
