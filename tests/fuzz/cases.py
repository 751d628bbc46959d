"""The fuzz cases: each breaks one thing of the valid project (tests/fuzz/project.py) and must be
refused with one line naming the file, the entry and the field, exit 2 (pytest's plugin: its usage
error, exit 4), and no traceback.

They were written as an adversarial user would try: wrong bytes, wrong shapes, NaN and infinities
wherever a number is read, out-of-range values, typos in keys, and flags out of range."""

from __future__ import annotations

import copy
import json

from tests.fuzz.project import DIRECTORY, MODELS, PROMPTS, Case, report_data

BINARY = bytes(range(256)) * 4
NOT_UTF8 = "caf\xe9 = 1\n".encode("latin-1")
DEEP_JSON = "[" * 100_000 + "]" * 100_000
DEEP_YAML = "[" * 100_000 + "]" * 100_000


def _file_faults(path: str) -> list[tuple[str, object]]:
    """What can be wrong with any file before its content is even read."""
    return [("binary", BINARY), ("not-utf8", NOT_UTF8), ("directory", DIRECTORY), ("missing", None), ("empty", "")]


# --- models.json -----------------------------------------------------------------------------------


def _entry(index: int = 0, **changes) -> str:
    models = copy.deepcopy(MODELS)
    for key, value in changes.items():
        if value is _DROP:
            models[index].pop(key, None)
        else:
            models[index][key] = value
    return json.dumps(models)


_DROP = object()

MODEL_CONTENT = [
    ("not-json", "[{name: x}]", ()),
    ("deeply-nested", DEEP_JSON, ()),
    ("object-at-top", json.dumps({"models": MODELS}), ("top level",)),
    ("string-at-top", json.dumps("models"), ("top level",)),
    ("entry-not-object", json.dumps([MODELS[0], 5]), ("entry 1",)),
    ("missing-name", _entry(name=_DROP), ("entry 0", "name")),
    ("missing-task", _entry(task=_DROP), ("entry 0", "task")),
    ("missing-min-ram", _entry(min_ram_gb=_DROP), ("entry 0", "min_ram_gb")),
    ("missing-notes", _entry(notes=_DROP), ("entry 0", "notes")),
    ("name-with-space", _entry(name="small a"), ("entry 0", "name")),
    ("name-empty", _entry(name=""), ("entry 0", "name")),
    ("name-path", _entry(name="../etc"), ("entry 0", "name")),
    ("name-number", _entry(name=5), ("entry 0", "name")),
    ("task-upper", _entry(task="Chat"), ("entry 0", "task")),
    ("min-ram-nan", _entry(min_ram_gb=float("nan")), ("entry 0", "min_ram_gb")),
    ("min-ram-infinity", _entry(min_ram_gb=float("inf")), ("entry 0", "min_ram_gb")),
    ("min-ram-negative", _entry(min_ram_gb=-1), ("entry 0", "min_ram_gb")),
    ("min-ram-string", _entry(min_ram_gb="lots"), ("entry 0", "min_ram_gb")),
    ("min-ram-bool", _entry(min_ram_gb=True), ("entry 0", "min_ram_gb")),
    ("family-upper", _entry(family="Small"), ("entry 0", "family")),
    ("runtime-unknown", _entry(runtime="vllm"), ("entry 0", "runtime")),
    ("runtimes-empty", _entry(1, runtimes=[]), ("entry 1", "runtimes")),
    ("runtimes-twice", _entry(1, runtimes=["llamacpp", "llamacpp"]), ("entry 1", "runtimes")),
    ("runtime-and-runtimes", _entry(runtimes=["endpoint"]), ("entry 0", "runtimes")),
    ("ctx-size-tiny", _entry(ctx_size=10), ("entry 0", "ctx_size")),
    ("ctx-size-float", _entry(ctx_size=1.5), ("entry 0", "ctx_size")),
    ("threads-zero", _entry(threads=0), ("entry 0", "threads")),
    ("threads-nan", _entry(threads=float("nan")), ("entry 0", "threads")),
    ("precision-unknown", _entry(precision="int3"), ("entry 0", "precision")),
    ("default-string", _entry(default="yes"), ("entry 0", "default")),
    ("two-defaults", _entry(1, default=True), ("entry 1", "default")),
    ("selected-string", _entry(selected_by_default="no"), ("entry 0", "selected_by_default")),
    ("must-pass-number", _entry(must_pass_checks=0), ("entry 0", "must_pass_checks")),
    ("unknown-field", _entry(min_ram=3), ("entry 0", "min_ram")),
    ("source-unknown-type", _entry(source={"type": "torrent", "url": "x"}), ("entry 0", "source")),
    ("source-not-object", _entry(source="pypi"), ("entry 0", "source")),
    ("endpoint-file-url", _entry(source={"type": "openai-endpoint", "base_url": "file:///etc", "model": "a"}), ("entry 0", "source")),
    ("endpoint-bad-key-env", _entry(source={"type": "openai-endpoint", "base_url": "http://x", "model": "a", "api_key_env": "1KEY"}), ("entry 0", "source")),
    ("endpoint-pid-zero", _entry(source={"type": "openai-endpoint", "base_url": "http://x", "model": "a", "pid": 0}), ("entry 0", "source")),
    ("gguf-bad-sha", _entry(1, source={"type": "gguf-file", "path": "b.gguf", "sha256": "xyz"}), ("entry 1", "source")),
    ("gguf-empty-path", _entry(1, source={"type": "gguf-file", "path": ""}), ("entry 1", "source")),
    ("pypi-size-zero", _entry(1, source={"type": "pypi-gguf", "packages": ["p"], "sha256": "a" * 64, "size": 0}), ("entry 1", "source")),
    ("pypi-size-nan", _entry(1, source={"type": "pypi-gguf", "packages": ["p"], "sha256": "a" * 64, "size": float("nan")}), ("entry 1", "source")),
    ("pypi-no-packages", _entry(1, source={"type": "pypi-gguf", "packages": [], "sha256": "a" * 64, "size": 5}), ("entry 1", "source")),
    ("duplicate-name", json.dumps([MODELS[0], {**MODELS[0], "default": False}]), ("entry 1", "name")),
]


def model_cases() -> list[Case]:
    cases = []
    for name, content in _file_faults("models.json"):
        cases.append(Case("models.json", f"{name}/plugin", {"models.json": content}, plugin={}, mentions=("models.json",)))
        cases.append(Case("models.json", f"{name}/models", {"models.json": content}, argv=["models"], mentions=("models.json",)))
    cases.append(Case("models.json", "directory/pull", {"models.json": DIRECTORY}, argv=["pull", "small-a"], mentions=("models.json",)))
    cases.append(Case("models.json", "directory/serve", {"models.json": DIRECTORY}, argv=["serve", "small-a"], mentions=("models.json",)))
    for name, content, mentions in MODEL_CONTENT:
        cases.append(Case("models.json", f"{name}/plugin", {"models.json": content}, plugin={}, mentions=("models.json", *mentions)))
        cases.append(
            Case("models.json", f"{name}/gate", {"models.json": content},
                 argv=["gate", "--from", "small-a", "--to", "small-b", "reports/both.json"], mentions=("models.json", *mentions))
        )
    return cases


# --- prompts.yaml ----------------------------------------------------------------------------------


def _prompts(old: str, new: str) -> str:
    assert old in PROMPTS, old
    return PROMPTS.replace(old, new, 1)


PROMPT_CONTENT = [
    ("not-yaml", "prompts: [\n  - id: a\n", ()),
    ("deeply-nested", "prompts: " + DEEP_YAML, ()),
    ("list-at-top", "- id: a\n  text: b\n", ("top level",)),
    ("no-prompts", "version: 1\n", ("top level", "prompts")),
    ("prompts-empty", "prompts: []\n", ("prompts",)),
    ("version-2", _prompts("version: 1", "version: 2"), ("version",)),
    ("defaults-typo", _prompts("  repeats: 2", "  repeat: 5"), ("defaults", "repeat")),
    ("defaults-repeats-zero", _prompts("  repeats: 2", "  repeats: 0"), ("defaults", "repeats")),
    ("defaults-max-tokens-zero", _prompts("  max_tokens: 32", "  max_tokens: 0"), ("defaults", "max_tokens")),
    ("defaults-temperature-nan", _prompts("  temperature: 0", "  temperature: .nan"), ("defaults", "temperature")),
    ("defaults-temperature-inf", _prompts("  temperature: 0", "  temperature: .inf"), ("defaults", "temperature")),
    ("defaults-temperature-negative", _prompts("  temperature: 0", "  temperature: -1"), ("defaults", "temperature")),
    ("defaults-min-pass-nan", _prompts("  min_pass_rate: 1.0", "  min_pass_rate: .nan"), ("defaults", "min_pass_rate")),
    ("defaults-min-pass-two", _prompts("  min_pass_rate: 1.0", "  min_pass_rate: 2"), ("defaults", "min_pass_rate")),
    ("defaults-not-mapping", _prompts("defaults:\n  repeats: 2\n  max_tokens: 32\n  temperature: 0\n  min_pass_rate: 1.0\n", "defaults: [2, 32]\n"), ("defaults",)),
    ("id-missing", _prompts("  - id: hello\n", "  - name: hello\n"), ("prompt 0",)),
    ("id-upper", _prompts("id: hello", "id: Hello"), ("prompt 0", "id")),
    ("id-duplicate", _prompts("id: chat", "id: hello"), ("prompt 1", "id")),
    ("id-number", _prompts("id: hello", "id: 5"), ("prompt 0", "id")),
    ("text-empty", _prompts("text: Say hello.", "text: ''"), ("prompt 0", "text")),
    ("no-text-no-messages", _prompts("    text: Say hello.\n", ""), ("prompt 0",)),
    ("checks-missing", _prompts("    checks:\n      - contains_any: [hello, hi]\n", ""), ("prompt 0", "checks")),
    ("checks-empty", _prompts("    checks:\n      - contains_any: [hello, hi]\n", "    checks: []\n"), ("prompt 0", "checks")),
    ("check-unknown", _prompts("contains_any: [hello, hi]", "contains_everything: [hello]"), ("prompt 0", "checks.0")),
    ("check-two-kinds", _prompts("- contains_any: [hello, hi]", "- {contains_any: [hi], min_words: 1}"), ("prompt 0", "checks.0")),
    ("check-not-mapping", _prompts("- contains_any: [hello, hi]", "- contains_any"), ("prompt 0", "checks.0")),
    ("contains-any-empty", _prompts("contains_any: [hello, hi]", "contains_any: []"), ("prompt 0", "checks.0")),
    ("contains-any-number", _prompts("contains_any: [hello, hi]", "contains_any: 5"), ("prompt 0", "checks.0")),
    ("regex-bad", _prompts("contains_any: [hello, hi]", "regex: '[oops'"), ("prompt 0", "checks.0")),
    ("min-words-string", _prompts("min_words: 1", "min_words: many"), ("prompt 1", "checks.0")),
    ("min-words-negative", _prompts("min_words: 1", "min_words: -3"), ("prompt 1", "checks.0")),
    ("min-words-nan", _prompts("min_words: 1", "min_words: .nan"), ("prompt 1", "checks.0")),
    ("repeats-zero", _prompts("    max_tokens: 16", "    repeats: 0"), ("prompt 1", "repeats")),
    ("repeats-huge", _prompts("    max_tokens: 16", "    repeats: 1000"), ("prompt 1", "repeats")),
    ("repeats-float", _prompts("    max_tokens: 16", "    repeats: 2.5"), ("prompt 1", "repeats")),
    ("max-tokens-negative", _prompts("    max_tokens: 16", "    max_tokens: -5"), ("prompt 1", "max_tokens")),
    ("max-tokens-nan", _prompts("    max_tokens: 16", "    max_tokens: .nan"), ("prompt 1", "max_tokens")),
    ("temperature-nan", _prompts("    max_tokens: 16", "    temperature: .nan"), ("prompt 1", "temperature")),
    ("temperature-inf", _prompts("    max_tokens: 16", "    temperature: .inf"), ("prompt 1", "temperature")),
    ("temperature-string", _prompts("    max_tokens: 16", "    temperature: hot"), ("prompt 1", "temperature")),
    ("min-pass-nan", _prompts("    max_tokens: 16", "    min_pass_rate: .nan"), ("prompt 1", "min_pass_rate")),
    ("min-pass-over-one", _prompts("    max_tokens: 16", "    min_pass_rate: 1.5"), ("prompt 1", "min_pass_rate")),
    ("last-turn-assistant", _prompts("      - {role: user, content: Bye}\n", ""), ("prompt 1", "messages")),
    ("role-system", _prompts("{role: user, content: Hi}", "{role: system, content: Hi}"), ("prompt 1", "messages.0")),
    ("content-empty", _prompts("{role: user, content: Hi}", "{role: user, content: ''}"), ("prompt 1", "messages.0")),
    ("turn-extra-key", _prompts("{role: user, content: Hi}", "{role: user, content: Hi, name: x}"), ("prompt 1", "messages.0")),
    ("response-format-xml", _prompts("    max_tokens: 16", "    response_format: xml"), ("prompt 1", "response_format")),
    ("json-schema-without-check", _prompts("    max_tokens: 16", "    response_format: json_schema"), ("prompt 1", "response_format")),
    ("tasks-empty", _prompts("    max_tokens: 16", "    tasks: []"), ("prompt 1", "tasks")),
    ("code-timeout-negative", _prompts("min_words: 1", "python_function: {calls: [{args: [1], expect: 1}], timeout_s: -1}"), ("prompt 1", "checks.0", "timeout_s")),
    ("code-timeout-nan", _prompts("min_words: 1", "python_function: {calls: [{args: [1], expect: 1}], timeout_s: .nan}"), ("prompt 1", "checks.0")),
    ("code-memory-negative", _prompts("min_words: 1", "python_function: {calls: [{args: [1], expect: 1}], memory_mb: -5}"), ("prompt 1", "checks.0", "memory_mb")),
    ("code-memory-fraction", _prompts("min_words: 1", "python_function: {calls: [{args: [1], expect: 1}], memory_mb: 1.5}"), ("prompt 1", "checks.0", "memory_mb")),
    ("code-no-calls", _prompts("min_words: 1", "python_function: {calls: []}"), ("prompt 1", "checks.0")),
    ("code-bad-function-name", _prompts("min_words: 1", "python_function: {calls: [{args: [1], expect: 1}], function: 'os.system'}"), ("prompt 1", "checks.0")),
    ("max-words-negative", _prompts("min_words: 1", "max_words: -1"), ("prompt 1", "checks.0")),
    ("contains-empty-text", _prompts("min_words: 1", "contains: ''"), ("prompt 1", "checks.0")),
    ("regex-bad-flags", _prompts("min_words: 1", "regex: {pattern: a, flags: x}"), ("prompt 1", "checks.0")),
    ("json-schema-invalid", _prompts("min_words: 1", "json_schema: {schema: {type: 5}}"), ("prompt 1", "checks.0")),
    ("text-a-date", _prompts("text: Say hello.", "text: 2024-01-01"), ("prompt 0", "text")),
    ("text-binary", _prompts("text: Say hello.", "text: !!binary aGVsbG8="), ("prompt 0", "text")),
    ("tasks-a-set", _prompts("    max_tokens: 16", "    tasks: !!set {chat: null}"), ("prompt 1", "tasks")),
    ("id-a-timestamp", _prompts("id: hello", "id: 2024-01-01T10:00:00Z"), ("prompt 0", "id")),
    ("python-object-tag", _prompts("text: Say hello.", "text: !!python/object/apply:os.system [echo hi]"), ("prompts.yaml",)),
    ("prompt-unknown-field", _prompts("    max_tokens: 16", "    max_token: 16"), ("prompt 1", "max_token")),
]


def prompt_cases() -> list[Case]:
    cases = [
        Case("prompts.yaml", f"{name}/plugin", {"prompts.yaml": content}, plugin={}, mentions=("prompts.yaml",))
        for name, content in _file_faults("prompts.yaml")
    ]
    cases += [
        Case("prompts.yaml", f"{name}/plugin", {"prompts.yaml": content}, plugin={}, mentions=("prompts.yaml", *mentions))
        for name, content, mentions in PROMPT_CONTENT
    ]
    return cases


# --- reports, in every command that reads one ----------------------------------------------------


def _report(change) -> str:
    data = report_data("bad")
    change(data)
    return json.dumps(data)


def _sample(data: dict) -> dict:
    return data["models"][0]["prompts"][0]["samples"][0]


REPORT_CONTENT = [
    ("not-json", "{run_id: 1}", ()),
    ("deeply-nested", DEEP_JSON, ()),
    ("list-at-top", json.dumps([report_data("bad")]), ()),
    ("schema-unknown", _report(lambda d: d.update(schema="bakeoff.report/99")), ("schema",)),
    ("run-id-missing", _report(lambda d: d.pop("run_id")), ("run_id",)),
    ("status-unknown", _report(lambda d: d.update(status="done")), ("status",)),
    ("ttft-nan", _report(lambda d: _sample(d).update(ttft_s=float("nan"))), ("ttft_s",)),
    ("ttft-infinity", _report(lambda d: _sample(d).update(ttft_s=float("inf"))), ("ttft_s",)),
    ("ttft-negative", _report(lambda d: _sample(d).update(ttft_s=-0.5)), ("ttft_s",)),
    ("ttft-string", _report(lambda d: _sample(d).update(ttft_s="fast")), ("ttft_s",)),
    ("tokens-negative", _report(lambda d: _sample(d).update(output_tokens=-7)), ("output_tokens",)),
    ("tokens-fraction", _report(lambda d: _sample(d).update(output_tokens=2.5)), ("output_tokens",)),
    ("pass-rate-five", _report(lambda d: d["models"][0]["prompts"][0]["checks"][0].update(pass_rate=5)), ("pass_rate",)),
    ("rss-negative", _report(lambda d: d["models"][0].update(peak_rss_bytes=-1)), ("peak_rss_bytes",)),
    ("duplicate-models", _report(lambda d: d["models"].append(copy.deepcopy(d["models"][0]))), ("twice",)),
    ("models-not-list", _report(lambda d: d.update(models={"a": 1})), ("models",)),
    ("unknown-field", _report(lambda d: d.update(extra_field=1)), ("extra_field",)),
]

# Each command that reads a report, with REPORT standing for the broken one.
REPORT_COMMANDS = {
    "compare-baseline": ["compare", "REPORT", "reports/cand.json"],
    "compare-candidate": ["compare", "reports/base.json", "REPORT"],
    "gate": ["gate", "--from", "small-a", "--to", "small-a", "REPORT"],
    "report": ["report", "REPORT", "-o", "out.html"],
    "report-csv": ["report", "REPORT", "-o", "out.html", "--csv", "out.csv"],
    "report-baseline": ["report", "reports/cand.json", "--baseline", "REPORT", "-o", "out.html"],
    "baseline-promote": ["baseline", "promote", "REPORT", "--to", "promoted.json"],
    "rate": ["rate", "REPORT", "--rater", "fuzz"],
    "history": ["history", "reports/base.json", "REPORT"],
    "merge": ["merge", "reports/base.json", "REPORT", "-o", "merged.json"],
}


def report_cases() -> list[Case]:
    cases = []
    faults = [(name, content, ()) for name, content in _file_faults("bad.json")] + REPORT_CONTENT
    for name, content, mentions in faults:
        for command, argv in REPORT_COMMANDS.items():
            cases.append(
                Case("reports", f"{name}/{command}", {"bad.json": content},
                     argv=[a.replace("REPORT", "bad.json") for a in argv], mentions=("bad.json", *mentions))
            )
        cases.append(
            Case("reports", f"{name}/plugin-baseline", {"bad.json": content}, plugin={"bakeoff_baseline": "bad.json"},
                 mentions=("bad.json", *mentions))
        )
    return cases


# --- [tool.bakeoff] in pyproject.toml ----------------------------------------------------------------


def _table(body: str) -> str:
    return '[project]\nname = "fuzzed"\n\n[tool.bakeoff]\n' + body


PYPROJECT_CONTENT = [
    ("not-toml", "[tool.bakeoff\nmin_effect = 1\n", ()),
    ("deeply-nested", "x = " + "[" * 100_000 + "]" * 100_000 + "\n", ()),
    ("tool-string", 'tool = "x"\n', ("tool",)),
    ("bakeoff-number", "[tool]\nbakeoff = 5\n", ("tool.bakeoff",)),
    ("unknown-key", _table('baselin = "b.json"\n'), ("baselin",)),
    ("baseline-a-date", _table("baseline = 1979-05-27\n"), ("baseline",)),
    ("min-effect-a-time", _table("min_effect = 07:32:00\n"), ("min_effect",)),
    ("baseline-empty", _table('baseline = ""\n'), ("baseline",)),
    ("min-effect-nan", _table("min_effect = nan\n"), ("min_effect",)),
    ("min-effect-two", _table("min_effect = 2\n"), ("min_effect",)),
    ("inconclusive-unknown", _table('inconclusive = "maybe"\n'), ("inconclusive",)),
    ("confidence-low", _table("confidence = 0.3\n"), ("confidence",)),
    ("confidence-nan", _table("confidence = nan\n"), ("confidence",)),
    ("gates-not-list", _table("gates = 5\n"), ("gates",)),
    ("gate-no-metric", _table("[[tool.bakeoff.gates]]\nmax = 1\n"), ("gates", "entry 0", "metric")),
    ("gate-unknown-metric", _table('[[tool.bakeoff.gates]]\nmetric = "speed"\nmax = 1\n'), ("entry 0", "metric")),
    ("gate-no-limit", _table('[[tool.bakeoff.gates]]\nmetric = "ttft_s"\n'), ("entry 0",)),
    ("gate-increase-nan", _table('[[tool.bakeoff.gates]]\nmetric = "ttft_s"\nmax_increase = nan\n'), ("entry 0", "max_increase")),
    ("gate-increase-negative", _table('[[tool.bakeoff.gates]]\nmetric = "ttft_s"\nmax_increase = -0.1\n'), ("entry 0", "max_increase")),
    ("gate-max-inf", _table('[[tool.bakeoff.gates]]\nmetric = "ttft_s"\nmax = inf\n'), ("entry 0", "max")),
    ("gate-min-nan", _table('[[tool.bakeoff.gates]]\nmetric = "decode_tokens_per_s"\nmin = nan\n'), ("entry 0", "min")),
    ("gate-decrease-string", _table('[[tool.bakeoff.gates]]\nmetric = "ttft_s"\nmax_decrease = "10%"\n'), ("entry 0", "max_decrease")),
    ("gate-new-failures-negative", _table('[[tool.bakeoff.gates]]\nmetric = "check_pass_rate"\nmax_new_failures = -1\n'), ("entry 0", "max_new_failures")),
    ("gate-new-failures-on-ttft", _table('[[tool.bakeoff.gates]]\nmetric = "ttft_s"\nmax_new_failures = 0\n'), ("entry 0", "max_new_failures")),
    ("gate-prompt-per-model", _table('[[tool.bakeoff.gates]]\nmetric = "peak_rss_bytes"\nprompt = "hello"\nmax = 1e9\n'), ("entry 0", "prompt")),
    ("gate-unknown-key", _table('[[tool.bakeoff.gates]]\nmetric = "ttft_s"\nmax_increse = 0.1\n'), ("entry 0", "max_increse")),
    ("switch-max-nan", _table('[[tool.bakeoff.switch]]\nmetric = "peak_rss_bytes"\nmax = nan\n'), ("switch", "entry 0", "max")),
    ("limits-not-table", _table("limits = 5\n"), ("limits",)),
    ("limits-unknown", _table("[tool.bakeoff.limits]\nstall = 5\n"), ("limits", "stall")),
    ("limits-nan", _table("[tool.bakeoff.limits]\nstall_s = nan\n"), ("limits", "stall_s")),
    ("limits-negative", _table("[tool.bakeoff.limits]\nfirst_token_s = -1\n"), ("limits", "first_token_s")),
    ("limits-zero", _table("[tool.bakeoff.limits]\ndecode_tokens_per_s = 0\n"), ("limits", "decode_tokens_per_s")),
    ("limits-string", _table('[tool.bakeoff.limits]\nmax_request_s = "1m"\n'), ("limits", "max_request_s")),
]

PYPROJECT_COMMANDS = {
    "compare": ["compare", "reports/base.json", "reports/cand.json"],
    "gate": ["gate", "--from", "small-a", "--to", "small-b", "reports/both.json"],
    "history": ["history", "reports/base.json", "reports/cand.json"],
}


def pyproject_cases() -> list[Case]:
    cases = []
    # A missing or empty pyproject.toml is no fault: the settings are the defaults.
    faults = [(name, content, ()) for name, content in _file_faults("pyproject.toml") if name not in ("missing", "empty")] + PYPROJECT_CONTENT
    for name, content, mentions in faults:
        for command, argv in PYPROJECT_COMMANDS.items():
            cases.append(Case("pyproject.toml", f"{name}/{command}", {"pyproject.toml": content}, argv=argv, mentions=("pyproject.toml", *mentions)))
        cases.append(Case("pyproject.toml", f"{name}/plugin", {"pyproject.toml": content}, plugin={}, mentions=("pyproject.toml", *mentions)))
    cases.append(
        Case("pyproject.toml", "config-directory/report-baseline", {"conf": DIRECTORY},
             argv=["report", "reports/cand.json", "--baseline", "reports/base.json", "--config", "conf", "-o", "o.html"], mentions=("conf",))
    )
    cases.append(
        Case("pyproject.toml", "tool-string/baseline-promote", {"pyproject.toml": 'tool = "x"\n'},
             argv=["baseline", "promote", "reports/cand.json"], mentions=("pyproject.toml", "tool"))
    )
    return cases


# --- command-line flags --------------------------------------------------------------------------

GATE = ["gate", "--from", "small-a", "--to", "small-b", "reports/both.json"]

CLI_FLAGS = [
    ("no-command", [], ()),
    ("unknown-command", ["bake"], ("bake",)),
    ("serve-port-too-big", ["serve", "small-a", "--port", "99999"], ("--port",)),
    ("serve-port-negative", ["serve", "small-a", "--port", "-1"], ("--port",)),
    ("serve-port-word", ["serve", "small-a", "--port", "http"], ("--port",)),
    ("serve-unknown-model", ["serve", "nobody"], ("nobody",)),
    ("serve-unknown-runtime", ["serve", "small-a", "--runtime", "ollama"], ("small-a",)),
    ("serve-entry-json-garbage", ["serve", "small-a", "--entry-json", "{not json"], ("--entry-json",)),
    ("serve-entry-json-fields", ["serve", "small-a", "--entry-json", '{"name": "x"}'], ("--entry-json",)),
    ("pull-unknown-model", ["pull", "nobody"], ("nobody",)),
    ("pull-missing-name", ["pull"], ("name",)),
    ("gate-ram-nan", [*GATE, "--ram-gb", "nan"], ("--ram-gb",)),
    ("gate-ram-inf", [*GATE, "--ram-gb", "inf"], ("--ram-gb",)),
    ("gate-ram-negative", [*GATE, "--ram-gb", "-5"], ("--ram-gb",)),
    ("gate-ram-zero", [*GATE, "--ram-gb", "0"], ("--ram-gb",)),
    ("gate-ram-word", [*GATE, "--ram-gb", "lots"], ("--ram-gb",)),
    ("gate-no-from", ["gate", "--to", "small-b", "reports/both.json"], ("--from",)),
    ("gate-unknown-model", ["gate", "--from", "small-a", "--to", "nobody", "reports/both.json"], ("nobody",)),
    ("gate-missing-report", ["gate", "--from", "small-a", "--to", "small-b", "reports/none.json"], ("none.json",)),
    ("compare-one-report", ["compare", "reports/base.json"], ("candidate",)),
    ("promote-to-directory", ["baseline", "promote", "reports/cand.json", "--to", "reports"], ("reports",)),
    ("promote-to-under-a-file", ["baseline", "promote", "reports/cand.json", "--to", "pyproject.toml/base.json"], ("pyproject.toml",)),
    ("report-output-directory", ["report", "reports/cand.json", "-o", "reports"], ("reports",)),
    ("report-csv-directory", ["report", "reports/cand.json", "-o", "o.html", "--csv", "reports"], ("reports",)),
    ("report-output-under-a-file", ["report", "reports/cand.json", "-o", "pyproject.toml/o.html"], ("pyproject.toml",)),
    ("cache-clean-parent", ["cache", "clean", "../../../victim"], ("../../../victim",)),
    ("cache-clean-empty", ["cache", "clean", ""], ("''",)),
    ("cache-clean-dot", ["cache", "clean", "."], ("'.'",)),
    ("cache-clean-absolute", ["cache", "clean", "/etc"], ("/etc",)),
    ("cache-unknown-action", ["cache", "wipe"], ("wipe",)),
    ("rate-missing-report", ["rate", "reports/none.json"], ("none.json",)),
    ("merge-no-output", ["merge", "reports/base.json", "reports/cand.json"], ("-o",)),
    ("merge-output-directory", ["merge", "reports/base.json", "reports/both.json", "-o", "reports"], ("reports",)),
    ("history-one-report", ["history", "reports/base.json"], ("base.json",)),
    ("history-unknown-metric", ["history", "reports/base.json", "reports/cand.json", "--metric", "speed"], ("--metric", "speed")),
    ("history-html-directory", ["history", "reports/base.json", "reports/cand.json", "--html", "reports"], ("reports",)),
    ("models-missing-registry", ["models", "--models", "none.json"], ("none.json",)),
]

PLUGIN_FLAGS = [
    ("limit-unknown", {"bakeoff_limit": ["stall=5"]}, ("--bakeoff-limit", "stall")),
    ("limit-nan", {"bakeoff_limit": ["stall_s=nan"]}, ("--bakeoff-limit", "stall_s")),
    ("limit-inf", {"bakeoff_limit": ["stall_s=inf"]}, ("--bakeoff-limit", "stall_s")),
    ("limit-negative", {"bakeoff_limit": ["first_token_s=-1"]}, ("--bakeoff-limit", "first_token_s")),
    ("limit-empty", {"bakeoff_limit": ["stall_s="]}, ("--bakeoff-limit", "stall_s")),
    ("limit-word", {"bakeoff_limit": ["stall_s=long"]}, ("--bakeoff-limit", "stall_s")),
    ("limit-tokens-fraction", {"bakeoff_limit": ["default_max_tokens=2.5"]}, ("--bakeoff-limit", "default_max_tokens")),
    ("reports-under-a-file", {"bakeoff_reports": "pyproject.toml/reports"}, ("--bakeoff-reports", "pyproject.toml")),
    ("reports-is-a-file", {"bakeoff_reports": "pyproject.toml"}, ("--bakeoff-reports", "pyproject.toml")),
    ("baseline-missing", {"bakeoff_baseline": "none.json"}, ("none.json",)),
    ("models-directory", {"bakeoff_models": "reports"}, ("reports",)),
    ("prompts-directory", {"bakeoff_prompts": "reports"}, ("reports",)),
    ("models-missing", {"bakeoff_models": "none.json"}, ("none.json",)),
]


def flag_cases() -> list[Case]:
    cases = [Case("bakeoff flags", name, {}, argv=argv, mentions=mentions) for name, argv, mentions in CLI_FLAGS]
    cases += [Case("pytest plugin flags", name, {}, plugin=options, mentions=mentions) for name, options, mentions in PLUGIN_FLAGS]
    return cases


def all_cases() -> list[Case]:
    return model_cases() + prompt_cases() + report_cases() + pyproject_cases() + flag_cases()
