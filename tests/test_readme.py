"""The README's first lines are the two commands a newcomer runs, and CI runs the second as written."""

from __future__ import annotations

from .conftest import REPO


def readme_commands() -> list[str]:
    lines = (REPO / "README.md").read_text().splitlines()
    opening, closing = lines.index("```sh"), lines.index("```", lines.index("```sh") + 1)
    assert opening <= 3, "the commands are the README's first lines"
    return lines[opening + 1 : closing]


def test_readme_opens_with_the_main_command_and_the_test_command():
    main, tests = readme_commands()
    assert main.endswith("pytest evals") and tests.endswith("pytest tests")


def test_ci_runs_the_readme_test_command_as_written():
    ci_lines = (REPO / ".ci" / "run").read_text().splitlines()
    assert readme_commands()[1] in ci_lines
