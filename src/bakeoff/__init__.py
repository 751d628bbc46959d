"""bakeoff: a pytest harness that starts local language models, measures them and checks answers.

The public API; everything else lives in the stage packages (inputs, weights, runtimes, measure,
decide, report, show) and may change. A check of your own, in a project's conftest.py:

    from bakeoff import Outcome, check

    @check("mentions_year")
    def mentions_year(answer: str, year: int) -> Outcome:
        return Outcome(str(year) in answer, f"expected the year {year}")

Reports from Python: `compare_reports(load_report(a), load_report(b), load_settings(path))`.
"""

from bakeoff.decide.checks import Outcome, check
from bakeoff.decide.compare import Comparison, compare_reports, compare_switch, recommendation, switch_recommendation
from bakeoff.errors import BakeoffError
from bakeoff.inputs.prompts import Prompt, load_prompts
from bakeoff.inputs.registry import ModelEntry, load_registry
from bakeoff.inputs.settings import Settings, load_settings
from bakeoff.measure.client import ChatClient, Sample
from bakeoff.report.model import Report
from bakeoff.report.store import load_report

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
    "recommendation",
    "switch_recommendation",
]
