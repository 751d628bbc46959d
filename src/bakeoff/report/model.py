"""The run report as typed data (pydantic v2): what a run stores, with the field names of its JSON.

Every record is validated when it is made, when a field is assigned and again before a report is
written (`Report.checked()`), so a report with NaN or infinity, a negative duration, byte or token
count, a pass rate outside [0, 1] or the same model twice on one runtime never reaches a file,
and is refused when read. The JSON Schema, schemas/report.schema.json, is generated from these
classes (`json_schema()`; `python -m bakeoff.report.model` rewrites it) and a test keeps the two
equal. Reading older versions is `bakeoff.report.migrate`'s job.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from bakeoff.measure.client import Sample

SCHEMA: Final = "bakeoff.report/3"
SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schemas" / "report.schema.json"

Seconds = Annotated[float, Field(ge=0)]
Count = Annotated[int, Field(ge=0)]  # bytes, tokens, samples, starts
Share = Annotated[float, Field(ge=0, le=1)]
Score = Annotated[int, Field(ge=1, le=5, json_schema_extra={"criterion": True})]


class Record(BaseModel):
    """A part of the report: finite numbers only, fields checked on assignment, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, validate_assignment=True)

    def update(self, **fields: Any) -> None:
        """Set several fields at once, each validated."""
        for name, value in fields.items():
            setattr(self, name, value)


class OpenRecord(Record):
    """A record whose writer lives outside this package (a measured sample, a prompt's outcome):
    a field this version does not know is kept and shown as it is, never dropped."""

    model_config = ConfigDict(extra="allow")


class Stat(Record):
    """A metric's summary over a prompt's samples."""

    n: Count
    median: float
    mean: float
    min: float
    max: float
    stdev: Annotated[float, Field(ge=0)]
    p90: float | None = None  # None in reports made before bakeoff kept them
    p95: float
    p99: float | None = None
    intervals: dict[str, tuple[float | None, float | None]] | None = Field(
        default=None,
        description=(
            "95% distribution-free intervals of the median, p90 and p99 over these samples "
            "(a null bound: too few samples to reach it); null in reports made before bakeoff kept them"
        ),
    )


class AttemptCheck(Record):
    """One check on one attempt (sample)."""

    check: str
    passed: bool
    detail: str
    sandbox_missing: list[str] | None = Field(
        default=None,
        description=(
            "protections the sandbox for model-written code lacked on this machine (null: all held, or no code ran)"
        ),
    )


class CheckResult(Record):
    """One check over all of a prompt's attempts."""

    check: str
    pass_rate: Share
    passes: Count | None = None
    attempts: Count | None = None
    pass_k: bool | None = Field(default=None, description="pass^k: the check passed in every one of the k attempts")
    passed: bool


class JudgeRecord(Record):
    """A judge model's grades for one attempt (a `judge` check), or why it gave none."""

    judge: str = Field(description="the judge model, as NAME or NAME@RUNTIME")
    scores: dict[str, Score] = Field(
        default={}, description="1-5 per criterion of the check's rubric; empty on a judge error"
    )
    reason: str | None = None
    error: str | None = Field(
        default=None, description="a judge error: the judge did not answer, or not with valid scores"
    )
    raw: str | None = Field(default=None, description="on a judge error, the judge's last reply as it came")
    self_judged: bool = Field(default=False, description="the judge is the same model as the one it graded")
    tries: Count = 1
    seconds: Seconds = Field(
        description="time spent judging this answer (retries included); never in the candidate's figures"
    )

    @property
    def score(self) -> float | None:
        """The mean of the criteria, as a rating's score; None on a judge error."""
        return sum(self.scores.values()) / len(self.scores) if self.scores else None


# Made from a measured sample by `SampleRecord.from_sample` only. A measured figure without a field
# here (a newer per-sample metric's, `Sample.figures`) is kept as it is; how each metric is read
# from a record, and which samples count in it, is the metrics table's (bakeoff.metrics).
class SampleRecord(OpenRecord):
    """One attempt at a prompt: the answer, what the request measured (`bakeoff.measure.client.Sample`)
    and its checks. Times are seconds from sending the request."""

    response: str
    ttft_s: Seconds
    total_s: Seconds
    output_tokens: Count
    prompt_tokens: Count | None = None
    tokens_counted_by: str | None = None
    decode_tokens_per_s: Seconds | None = None
    itl_p50_s: Seconds | None = None
    itl_p95_s: Seconds | None = None
    finish_reason: str | None = None
    server_timings: dict[str, float | None] | None = Field(
        default=None,
        description="the server's own figures for this request, as it sent them (llama-server: prompt_n, "
        "prompt_ms, predicted_n, predicted_ms, predicted_per_second, ...)",
    )
    passed: bool | None = Field(default=None, description="this attempt passed every check")
    checks: list[AttemptCheck]
    judge: JudgeRecord | None = Field(
        default=None, description="the judge model's grades, for a prompt with a `judge` check"
    )
    launch: Count | None = Field(
        default=None, description="0-based index of the server launch the attempt ran in; null: the run had one launch"
    )
    cold: bool = Field(
        default=False,
        description="the first request after its launch's load: counted in `cold_ttft_s`, left out of warm statistics",
    )

    @classmethod
    def from_sample(cls, sample: Sample, *, passed: bool, checks: list[AttemptCheck]) -> SampleRecord:
        """The record of a measured sample and its checks: the one place a sample becomes a record."""
        return cls(**sample.to_dict(), passed=passed, checks=checks)


class Rating(Record):
    """A person's 1-5 scores for one distinct answer, covering the attempts that gave it."""

    samples: list[Count] = Field(min_length=1, description="0-based indices into `samples`")
    accuracy: Score
    clarity: Score
    completeness: Score
    rater: str | None = None
    rated_at: str

    @property
    def scores(self) -> dict[str, int]:
        return {criterion: getattr(self, criterion) for criterion in CRITERIA}

    @property
    def score(self) -> float:
        """The mean of the criteria: what comparisons call the human score."""
        return sum(self.scores.values()) / len(CRITERIA)


# The criteria of a human rating, in order: Rating's fields that are 1-5 scores.
CRITERIA: tuple[str, ...] = tuple(
    name
    for name, info in Rating.model_fields.items()
    if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("criterion")
)


class Message(Record):
    role: str
    content: str


class PromptResult(OpenRecord):
    """A model's outcome on one prompt: its attempts, their checks and statistics, human ratings."""

    id: str
    text: str
    repeats: Count
    min_pass_rate: Share | None = None
    messages: list[Message] = Field(
        default=[], description="the conversation sent: system message, earlier turns, then `text`"
    )
    tasks: list[str] = Field(default=[], description="model tasks the prompt is for; empty: every model")
    response_format: Literal["json_object", "json_schema"] | None = None
    passed: bool
    attempt_pass_rate: Share | None = Field(default=None, description="share of attempts that passed every check")
    pass_k: bool | None = Field(default=None, description="pass^k: every one of the k attempts passed every check")
    error: str | None = None
    ratings: list[Rating] = Field(default=[], description="human scores from `bakeoff rate`, one per distinct answer")
    stats: dict[str, Stat | None] = {}
    checks: list[CheckResult]
    samples: list[SampleRecord]

    @model_validator(mode="after")
    def _ratings_name_real_attempts(self) -> PromptResult:
        for rating in self.ratings:
            if any(index >= len(self.samples) for index in rating.samples):
                raise ValueError(f"a rating names attempt {max(rating.samples)}; there are {len(self.samples)}")
        return self

    @property
    def extras(self) -> dict[str, Any]:
        """Fields this version does not know (see OpenRecord)."""
        return dict(self.model_extra or {})

    @property
    def conversation(self) -> list[Message]:
        """The messages sent; a report that does not keep them asked `text` alone."""
        return self.messages or [Message(role="user", content=self.text)]

    @property
    def human_score(self) -> float | None:
        """The mean human score, each rating weighing by the attempts it covers; None when unrated."""
        weights = [len(r.samples) for r in self.ratings]
        if not weights:
            return None
        return sum(r.score * w for r, w in zip(self.ratings, weights, strict=True)) / sum(weights)

    @property
    def judge_score(self) -> float | None:
        """The mean judge score over the graded attempts; None when no attempt was graded."""
        scores = [s.judge.score for s in self.samples if s.judge and s.judge.score is not None]
        return sum(scores) / len(scores) if scores else None


class LaunchRecord(Record):
    """One start of a model's server in a run: its time to ready and memory after load."""

    index: Count = Field(description="0-based, in the order the launches ran")
    ready_seconds: Seconds | None = None
    load_seconds: Seconds | None = None
    rss_after_load_bytes: Count | None = None
    gpu_memory_after_load_bytes: Count | None = Field(
        default=None, description="the server's memory on the GPU (NVML, per process)"
    )
    gpu_utilization_percent: Annotated[float, Field(ge=0)] | None = Field(
        default=None, description="median over the launch's samples"
    )
    mean_power_watts: Annotated[float, Field(ge=0)] | None = None
    energy_joules: Annotated[float, Field(ge=0)] | None = Field(
        default=None, description="from load to the launch's last request (see the model's energy_source)"
    )
    output_tokens: Count | None = Field(
        default=None, description="the launch's answers' tokens, over which its energy is spread"
    )


class ModelRecord(Record):
    """One model on one runtime in a run: whether it ran (or why not), its per-model figures and prompts."""

    name: str
    task: str
    family: str
    runtime: str = Field(description="the runtime's key: foundry, llamacpp, foundry_cli, ollama, endpoint")
    status: Literal["ran", "skipped", "failed", "not_run"]
    reason: str | None = None
    runtime_version: str | None = None
    model_id: str | None = None
    weights_sha256: str | None = None
    starts: Count = 0
    ready_seconds: Seconds | None = Field(default=None, description="median over `launches`")
    load_seconds: Seconds | None = Field(default=None, description="median over `launches`")
    rss_after_load_bytes: Count | None = Field(default=None, description="median over `launches`")
    peak_rss_bytes: Count | None = None
    cpu_seconds: Seconds | None = None
    memory_note: str | None = Field(
        default=None, description="why memory and CPU were not measured (then null, never zero)"
    )
    device: Literal["cpu", "gpu"] | None = Field(
        default=None, description="where the runtime served it, as it says (llama.cpp); null: not said"
    )
    gpu_layers: str | None = Field(
        default=None, description='layers offloaded to the GPU, as llama-server logged them: "25/25"'
    )
    gpu_memory_after_load_bytes: Count | None = Field(
        default=None, description="median over `launches`; null: nothing on a GPU, or no GPU"
    )
    peak_gpu_memory_bytes: Count | None = Field(
        default=None, description="the server's processes on the GPUs (NVML), highest over the run"
    )
    peak_device_memory_bytes: Count | None = Field(
        default=None, description="everything on the GPUs the server used, highest over the run"
    )
    gpu_utilization_percent: Annotated[float, Field(ge=0)] | None = Field(
        default=None, description="median over `launches`"
    )
    mean_power_watts: Annotated[float, Field(ge=0)] | None = Field(
        default=None, description="the GPUs' power, median over `launches`"
    )
    energy_joules: Annotated[float, Field(ge=0)] | None = Field(default=None, description="summed over `launches`")
    joules_per_token: Annotated[float, Field(ge=0)] | None = Field(
        default=None, description="energy over the output tokens of the launches measured"
    )
    energy_source: str | None = Field(
        default=None, description="the power sensor: NVML energy counter, NVML power integrated, or RAPL (CPU packages)"
    )
    energy_note: str | None = Field(default=None, description="why energy was not measured (then null, never zero)")
    environment: Environment | None = Field(
        default=None,
        description="the machine this model ran on, when the report was merged from several (else the report's)",
    )
    launches: list[LaunchRecord] = Field(
        default=[], description="each start of the server, one sample of time to ready and RSS after load each"
    )
    prompts: list[PromptResult] = []

    @property
    def key(self) -> tuple[str, str]:
        """What identifies a model in a report, and across reports: its name and its runtime."""
        return self.name, self.runtime

    @property
    def samples(self) -> list[SampleRecord]:
        """Every attempt at every prompt, so a median over them weighs each prompt by its repeats."""
        return [sample for prompt in self.prompts for sample in prompt.samples]

    @property
    def failed_prompts(self) -> list[str]:
        return [p.id for p in self.prompts if not p.passed]

    @property
    def prompts_passed(self) -> int:
        return len(self.prompts) - len(self.failed_prompts)


class AcceleratorRecord(Record):
    """One GPU of the machine (NVIDIA, through NVML)."""

    name: str
    memory_bytes: Count
    driver: str
    cuda_version: str = Field(description="the newest CUDA the driver runs")
    compute_capability: str | None = None


class Environment(Record):
    """The machine and runtimes a run was taken on."""

    cpu: str
    cpu_count: Count
    ram_gb: Annotated[float, Field(ge=0)]
    os: str
    python: str
    bakeoff_version: str
    host: str | None = Field(default=None, description="the machine's host name: tells workers that shared a machine")
    runtimes: dict[str, str] = Field(
        default={}, description="runtime version by the runtime's key (as models' `runtime`)"
    )
    accelerators: list[AcceleratorRecord] = Field(
        default=[], description="the machine's GPUs; none: see `accelerator_note`"
    )
    accelerator_note: str | None = Field(
        default=None, description="why there is no accelerator: no driver, no GPU (null in reports before it)"
    )


class Worker(Record):
    """One part of a distributed run: an xdist worker, or a report merged with `bakeoff merge`."""

    id: str = Field(description="the xdist worker (gw0, ...) or the merged report's run id")
    host: str | None = None
    models: list[str] = Field(description="the model x runtime labels (NAME@RUNTIME) it ran")


class Distribution(Record):
    """How a run was split and brought back together."""

    workers: list[Worker]
    shared_host: bool = Field(
        description="two or more parts measured models on one machine at the same time: timings are not like for like"
    )
    notes: list[str] = Field(
        default=[], description="what a reader must know: models measured on different machines, ..."
    )


class PromptSourceRecord(Record):
    """Where a run's prompts came from (bakeoff.inputs.sources): reports merge only when kind and digest agree."""

    kind: str = Field(description="the kind of source: prompts-yaml, or a source's own")
    name: str = Field(description="which one, for people: a file's path, a dataset's name")
    sha256: str | None = Field(description="digest of what the source held; null: it could not be read")


class Report(Record):
    """One run: where and when, and every model it selected."""

    model_config = ConfigDict(title="bakeoff run report, version 3", populate_by_name=True)

    schema_: Literal["bakeoff.report/3"] = Field(default=SCHEMA, alias="schema")
    run_id: str
    status: Literal["complete", "incomplete"]
    incomplete_reason: str | None = None
    started_at: str
    finished_at: str | None
    registry: str | None = None
    prompt_source: PromptSourceRecord | None = None
    environment: Environment
    distribution: Distribution | None = Field(
        default=None, description="set when the run was split across workers or merged from reports"
    )
    models: list[ModelRecord]

    @property
    def labels(self) -> dict[tuple[str, str], str]:
        """A display name per model key: its name, plus its runtime where the name runs on several."""
        names = Counter(name for name, _ in {m.key for m in self.models})
        return {m.key: f"{m.name} ({m.runtime})" if names[m.name] > 1 else m.name for m in self.models}

    @model_validator(mode="after")
    def _one_record_per_model(self) -> Report:
        twice = [key for key, count in Counter(m.key for m in self.models).items() if count > 1]
        if twice:
            raise ValueError(f"model {twice[0][0]} on runtime {twice[0][1]} is in the report twice")
        return self

    def checked(self) -> Report:
        """Validated again as a whole: lists appended to in place are checked only here."""
        return Report.model_validate(self.to_data())

    def to_data(self) -> dict:
        """The report as JSON-ready plain data, with the JSON's field names."""
        return self.model_dump(mode="json", by_alias=True)

    def to_json(self) -> str:
        return json.dumps(self.checked().to_data(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def json_schema() -> dict:
    """The JSON Schema of a report, as schemas/report.schema.json holds it."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "bakeoff/report.schema.json",
        **Report.model_json_schema(by_alias=True),
    }


if __name__ == "__main__":
    SCHEMA_FILE.write_text(json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n")
    print(SCHEMA_FILE)
