"""bakeoff: a pytest harness that starts local language models, measures them and checks answers.

The public API (each name loaded on first use); everything else lives in the stage packages (inputs, weights,
runtimes, measure,
decide, report, show) and may change. A check of your own, in a project's conftest.py:

    from bakeoff import Outcome, check

    @check("mentions_year")
    def mentions_year(answer: str, year: int) -> Outcome:
        return Outcome(str(year) in answer, f"expected the year {year}")

Reports from Python: `compare_reports(load_report(a), load_report(b), load_settings(path))`.
"""

import importlib

# Where each public name lives. Loaded on first use, not at import: every `bakeoff serve` imports
# this package, and importing these eagerly (pydantic, numpy, jsonschema: 0.23 s) would land in
# every model's measured time to ready.
_HOMES = {
    "BakeoffError": "bakeoff.errors",
    "ChatClient": "bakeoff.measure.client",
    "Comparison": "bakeoff.decide.compare",
    "ModelEntry": "bakeoff.inputs.registry",
    "Outcome": "bakeoff.decide.checks",
    "Prompt": "bakeoff.inputs.prompts",
    "Report": "bakeoff.report.model",
    "Sample": "bakeoff.measure.client",
    "Settings": "bakeoff.inputs.settings",
    "check": "bakeoff.decide.checks",
    "compare_reports": "bakeoff.decide.compare",
    "compare_switch": "bakeoff.decide.compare",
    "load_prompts": "bakeoff.decide.checks",
    "load_registry": "bakeoff.inputs.registry",
    "load_report": "bakeoff.report.store",
    "load_settings": "bakeoff.inputs.settings",
    "comparison_advice": "bakeoff.decide.compare",
    "switch_advice": "bakeoff.decide.compare",
}

__all__ = [
    "BakeoffError",
    "ChatClient",
    "Comparison",
    "ModelEntry",
    "Outcome",
    "Prompt",
    "Report",
    "Sample",
    "Settings",
    "check",
    "compare_reports",
    "compare_switch",
    "load_prompts",
    "load_registry",
    "load_report",
    "load_settings",
    "comparison_advice",
    "switch_advice",
]


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'bakeoff' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value  # found once, then an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
