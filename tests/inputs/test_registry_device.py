"""models.json's "device": a CPU and a GPU variant of one model in one run, as two rows; bad
device settings named in one line (file, entry, field)."""

import json

import pytest

from bakeoff.errors import BakeoffError
from bakeoff.inputs.registry import load_registry

GGUF = {"type": "gguf-file", "path": "/models/qwen.gguf"}
CPU = {"name": "qwen", "task": "code", "min_ram_gb": 1, "notes": "", "runtime": "llamacpp", "source": GGUF}
GPU = {**CPU, "name": "qwen-gpu", "device": "gpu"}


def registry(tmp_path, items):
    path = tmp_path / "models.json"
    path.write_text(json.dumps(items))
    return path


def test_a_cpu_and_a_gpu_variant_are_two_rows(tmp_path):
    cpu, gpu = load_registry(registry(tmp_path, [CPU, GPU]))
    assert (cpu.device, cpu.gpu_layers) == ("cpu", None)
    assert (gpu.device, gpu.gpu_layers) == ("gpu", None)
    assert cpu.label != gpu.label and cpu.key != gpu.key
    assert cpu.source == gpu.source


def test_gpu_layers_are_kept(tmp_path):
    (entry,) = load_registry(registry(tmp_path, [{**GPU, "gpu_layers": 12}]))
    assert entry.gpu_layers == 12


@pytest.mark.parametrize(
    "bad, expected",
    [
        ({**GPU, "device": "npu"}, "entry 0 (qwen-gpu): field 'device': 'npu' is not one of ['cpu', 'gpu']"),
        ({**GPU, "runtime": "foundry"}, "entry 0 (qwen-gpu): field 'device': 'gpu' is served by llamacpp only, not 'foundry'"),
        ({**CPU, "gpu_layers": 10}, "entry 0 (qwen): field 'gpu_layers': only with \"device\": \"gpu\""),
        ({**GPU, "gpu_layers": -1}, "entry 0 (qwen-gpu): field 'gpu_layers': -1 is less than the minimum of 0"),
    ],
)
def test_bad_device_settings_are_named_in_one_line(tmp_path, bad, expected):
    path = registry(tmp_path, [bad])
    with pytest.raises(BakeoffError) as error:
        load_registry(path)
    message = str(error.value)
    assert message.startswith(f"{path}: ") and expected in message and "\n" not in message
