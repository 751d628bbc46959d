"""The order of a session's tests: each model launched `launches` times, launch by launch.

`Launches` is a pytest plugin of its own (registered by plugin.py): it parametrises the
session-scoped `bakeoff_launch` fixture, orders the tests so that every model's launch k runs
before any model's launch k+1 (one server at a time, as each launch's server stops before the
next starts), keeps only the two models of a model-switch run (`--bakeoff-switch A,B`, in the
order A1 B1 A2 B2 ...), and leaves out a launch's test of a prompt that has no repeat in it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bakeoff.errors import BakeoffError
from bakeoff.inputs.prompts import Prompt
from bakeoff.inputs.registry import ModelEntry
from bakeoff.inputs.settings import load_settings
from bakeoff.model_run import launch_repeats


class Launches:
    """How many times each model is launched in the session, and the tests' order: launch by launch."""

    def __init__(self, count: int, warmup: int, switch: list[str] | None, prompts: Callable[[], list[Prompt]] = list):
        self.count = count
        self.warmup = warmup
        self.switch = switch  # the two labels of a model-switch run, in order
        self.prompts = prompts  # the session's prompts, in their file's order, once read

    @classmethod
    def from_config(cls, config: pytest.Config, prompts: Callable[[], list[Prompt]]) -> Launches:
        settings = load_settings(Path(config.rootpath) / "pyproject.toml")
        count = config.getoption("bakeoff_launches")
        count = settings.launches if count is None else count
        warmup = config.getoption("bakeoff_warmup")
        warmup = settings.warmup if warmup is None else warmup
        if count < 1:
            raise BakeoffError(f"--bakeoff-launches {count}: must be 1 or more")
        if warmup < 0:
            raise BakeoffError(f"--bakeoff-warmup {warmup}: must be 0 or more")
        switch = config.getoption("bakeoff_switch")
        labels = [label.strip() for label in switch.split(",")] if switch else None
        if labels is not None and (len(labels) != 2 or not all(labels) or labels[0] == labels[1]):
            raise BakeoffError(f"--bakeoff-switch {switch!r}: expected two different model labels, A,B")
        return cls(count, warmup, labels, prompts)

    @pytest.hookimpl(
        trylast=True
    )  # the launch last in the test id, "MODEL-PROMPT-launchN": the id still begins with the model
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "bakeoff_launch" in metafunc.fixturenames and self.count > 1:
            metafunc.parametrize(
                "bakeoff_launch",
                range(self.count),
                indirect=True,
                scope="session",
                ids=[f"launch{k + 1}" for k in range(self.count)],
            )

    @pytest.hookimpl(trylast=True)  # after the plugin's own selection and pytest's fixture ordering
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        if self.switch is not None:
            labels = {entry.label for item in items if (entry := _entry(item))}
            unknown = [label for label in self.switch if label not in labels]
            if unknown:
                raise pytest.UsageError(
                    f"--bakeoff-switch: no model {', '.join(unknown)} in this run; models: {', '.join(sorted(labels))}"
                )
        left_out = [
            item for item in items if _entry(item) and (not self._in_switch(item) or self.repeats_in(item) == 0)
        ]
        if left_out:
            config.hook.pytest_deselected(items=left_out)
            items[:] = [item for item in items if item not in set(left_out)]
        # Launch by launch (A1 B1 A2 B2 ...), so drift over the run hits every model alike; one
        # server at a time, as each launch's server stops before the next starts.
        models = list(dict.fromkeys(entry.label for item in items if (entry := _entry(item))))
        if self.switch is not None:
            models = self.switch
        slots = [index for index, item in enumerate(items) if _entry(item)]
        ordered = sorted(
            (items[index] for index in slots), key=lambda item: (_launch(item), models.index(_model_label(item)))
        )
        for index, item in zip(slots, ordered, strict=True):
            items[index] = item

    def repeats_in(self, item: pytest.Item) -> int:
        """The repeats of the item's prompt that run in the item's launch."""
        prompt = _params(item).get("prompt")
        if not isinstance(prompt, Prompt):
            return 1
        return launch_repeats(prompt.repeats, self.count, _launch(item), offset=self._position(prompt))

    def _in_switch(self, item: pytest.Item) -> bool:
        return self.switch is None or _model_label(item) in self.switch

    def _position(self, prompt: Prompt) -> int:
        return next((index for index, p in enumerate(self.prompts()) if p is prompt), 0)


def _params(item: pytest.Item) -> dict:
    return getattr(getattr(item, "callspec", None), "params", {})


def _entry(item: pytest.Item) -> ModelEntry | None:
    entry = _params(item).get("model")
    return entry if isinstance(entry, ModelEntry) else None


def _model_label(item: pytest.Item) -> str:
    """The label of the model an item runs; asked only of items that run one."""
    entry = _entry(item)
    if entry is None:
        raise ValueError(f"{item.nodeid} runs no model")
    return entry.label


def _launch(item: pytest.Item) -> int:
    return _params(item).get("bakeoff_launch", 0)
