"""What `bakeoff models` and `bakeoff ps` show: one row per model x runtime (and the runtimes
installed), or per running server."""

from __future__ import annotations

from dataclasses import dataclass

from bakeoff import runtimes
from bakeoff.inputs.registry import ModelEntry, machine_ram_gb
from bakeoff.weights import cache

MB = 1000**2


@dataclass(frozen=True)
class ModelRow:
    label: str
    runtime: str
    runtime_available: bool
    runtime_note: str | None
    pulled: str  # "yes", "no", or what the runtime fetches itself
    size_bytes: int | None
    fits_ram: bool
    min_ram_gb: float
    markers: str


def _pulled(entry: ModelEntry) -> tuple[str, int | None]:
    """Whether the weights bakeoff pulls for the entry's runtime are here (compiled, or fetched), and
    their size; for weights it does not pull, what the source says of them."""
    runtime = runtimes.get(entry.runtime)
    if not runtime.pulls(entry):
        return entry.source.unpulled_state()
    if runtime.compiles:
        pulled = cache.is_pulled(entry)
        return ("yes", cache.size_on_disk(cache.model_dir(entry))) if pulled else ("no", entry.source.declared_size())
    path = cache.gguf_path(entry)
    return ("yes", path.stat().st_size) if path.exists() else ("no", entry.source.declared_size())


def model_rows(entries: list[ModelEntry]) -> list[ModelRow]:
    ram = machine_ram_gb()
    reasons = {runtime: runtimes.get(runtime).unavailable_reason() for runtime in {e.runtime for e in entries}}
    rows = []
    for entry in entries:
        pulled, size = _pulled(entry)
        rows.append(
            ModelRow(
                label=entry.label,
                runtime=entry.runtime,
                runtime_available=reasons[entry.runtime] is None,
                runtime_note=reasons[entry.runtime],
                pulled=pulled,
                size_bytes=size,
                fits_ram=entry.min_ram_gb <= ram,
                min_ram_gb=entry.min_ram_gb,
                markers=" ".join(entry.markers),
            )
        )
    return rows


def models_lines(rows: list[ModelRow]) -> list[str]:
    width = max([len("model"), *(len(r.label) for r in rows)])
    lines = [
        f"{'model':<{width}}  {'runtime':<11} {'available':<9} {'pulled':<12} "
        f"{'size':>8}  {'fits RAM':<14} markers (-m)"
    ]
    for r in rows:
        size = f"{r.size_bytes / MB:.0f} MB" if r.size_bytes else "-"
        fits = f"{'yes' if r.fits_ram else 'no'} (>= {r.min_ram_gb:g} GB)"
        lines.append(
            f"{r.label:<{width}}  {r.runtime:<11} {'yes' if r.runtime_available else 'no':<9} "
            f"{r.pulled:<12} {size:>8}  {fits:<14} {r.markers}"
        )
    notes = dict.fromkeys(f"{r.runtime}: {r.runtime_note}" for r in rows if r.runtime_note)
    return lines + ([""] + [f"not available: {note}" for note in notes] if notes else [])


def runtimes_line() -> str:
    """The installed runtimes (entry-point group bakeoff.runtimes), each with its display name."""
    return "runtimes: " + ", ".join(f"{name} ({runtimes.display_name(name)})" for name in runtimes.names())


def ps_lines(servers: list[dict]) -> list[str]:
    if not servers:
        return ["no bakeoff servers running"]
    width = max([len("model"), *(len(s["label"]) for s in servers)])
    lines = [f"{'model':<{width}}  {'runtime':<11} {'pid':>7} {'RSS':>9}  {'since':<25} url"]
    for s in servers:
        lines.append(
            f"{s['label']:<{width}}  {s['runtime']:<11} {s['pid']:>7} {s['rss_bytes'] / MB:>6.0f} MB  "
            f"{s['started_at']:<25} {s['url']}"
        )
    return lines
