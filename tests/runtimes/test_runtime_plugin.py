"""A runtime added from outside bakeoff: the toy distribution in tests/data/toy_runtime (one module,
one entry-point line in its pyproject.toml) is installed into a folder of its own, and a run with
that folder on PYTHONPATH names it in models.json, runs a prompt on it and records it.

The toy serves like the `endpoint` runtime, here in front of the scripted stand-in server
(tests/fake_openai.py): what this proves is the registration (schema, runtime lookup, report,
display name), not a model.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bakeoff.report.store import load_report

from ..fake_openai import serve_stream
from ..test_model_run import STREAM

TOY = Path(__file__).resolve().parents[1] / "data" / "toy_runtime"
TEST = "def test_prompt(model, prompt, evaluate):\n    assert evaluate(model, prompt).passed\n"
PROMPTS = 'prompts:\n  - {id: capital, text: "Capital of France?", checks: [{contains: Paris}]}\n'
pytestmark = pytest.mark.slow  # pip and pytest in subprocesses


@pytest.fixture(scope="module")
def toy_on_path(tmp_path_factory) -> str:
    """A PYTHONPATH with the toy runtime's distribution installed on it, by pip as bakeoff itself is
    (its build backend, setuptools, from the index or pip's cache: `pip install -e .` needed it too)."""
    source = shutil.copytree(TOY, tmp_path_factory.mktemp("toy-source") / "toy_runtime")  # pip builds in the tree
    target = tmp_path_factory.mktemp("toy-installed")
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
    subprocess.run([*pip, "--target", str(target), str(source)], check=True, capture_output=True, timeout=300)
    assert [path.name for path in target.glob("*.dist-info")] == ["bakeoff_toy_runtime-0.1.0.dist-info"]
    return os.pathsep.join(filter(None, [str(target), os.environ.get("PYTHONPATH")]))


def toy_model(url: str) -> dict:
    return {"name": "toy-model", "task": "chat", "min_ram_gb": 0, "notes": "", "runtime": "toy",
            "source": {"type": "openai-endpoint", "base_url": f"{url}/v1", "model": "served-model"}}  # fmt: skip


def bakeoff(*args: str, cwd: Path, pythonpath: str | None) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update({"PYTHONPATH": pythonpath} if pythonpath else {})
    return subprocess.run([sys.executable, "-m", "bakeoff", *args], capture_output=True, text=True, timeout=120, env=env, cwd=cwd)


def test_a_runtime_from_another_distribution_runs_a_prompt_and_the_report_records_it(pytester, monkeypatch, toy_on_path):
    monkeypatch.setenv("PYTHONPATH", toy_on_path)
    with serve_stream(STREAM, models=("served-model",)) as (url, requests):
        pytester.makefile(".json", models=json.dumps([toy_model(url)]))
        pytester.makefile(".yaml", prompts=PROMPTS)
        pytester.makepyfile(test_evals=TEST)
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v", "--bakeoff-launches", "1")
        assert requests, "the toy runtime's model was never asked"
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*test_prompt?toy-model-capital? PASSED*"])
    report = load_report(pytester.path / "reports" / "latest.json")
    [model] = report.models
    assert (model.name, model.runtime, model.status) == ("toy-model", "toy", "ran")
    assert [prompt.passed for prompt in model.prompts] == [True]
    # Its display name comes from its class, in the HTML too.
    page = bakeoff("report", "reports/latest.json", cwd=pytester.path, pythonpath=toy_on_path)
    assert page.returncode == 0, page.stderr
    assert "Toy runtime" in (pytester.path / "reports" / "latest.html").read_text()


def test_models_json_accepts_the_runtime_only_where_it_is_installed(tmp_path, toy_on_path):
    (tmp_path / "models.json").write_text(json.dumps([toy_model("http://127.0.0.1:9")]))
    listed = bakeoff("models", cwd=tmp_path, pythonpath=toy_on_path)
    assert listed.returncode == 0, listed.stderr
    row = listed.stdout.splitlines()[1].split()
    assert row[:5] == ["toy-model", "toy", "yes", "remote", "-"]  # available, nothing to pull
    assert listed.stdout.splitlines()[-1].endswith(", toy (Toy runtime)")  # the installed runtimes, the toy among them
    refused = bakeoff("models", cwd=tmp_path, pythonpath=None)
    assert refused.returncode == 2
    assert refused.stderr.strip().endswith(f"{Path('models.json')}: entry 0 (toy-model): field 'runtime': 'toy' is not one of "
                                           "['endpoint', 'foundry', 'foundry_cli', 'llamacpp', 'ollama']")  # fmt: skip
