"""bakeoff: a pytest harness that starts local language models, measures them and checks answers.

The public API for a project's conftest.py is `check` and `Outcome`:

    from bakeoff import Outcome, check

    @check("mentions_year")
    def mentions_year(answer: str, year: int) -> Outcome:
        return Outcome(str(year) in answer, f"expected the year {year}")
"""

__all__ = ["Outcome", "check"]


def __getattr__(name: str):
    # Loaded on first use, so `import bakeoff.<module>` stays light for the CLI and the server.
    if name in __all__:
        from bakeoff.decide import checks

        return getattr(checks, name)
    raise AttributeError(f"module 'bakeoff' has no attribute {name!r}")
