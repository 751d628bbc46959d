"""Convert a quantized GGUF file to a float Hugging Face folder the ONNX Runtime GenAI builder reads.

Run as a script by the build environment's python: `python _compile_worker.py MODEL.gguf OUT_DIR`.
It must not import bakeoff, which is not installed in the build environment.
"""

import json
import sys
from pathlib import Path

from transformers import AutoModelForCausalLM, AutoTokenizer


def convert(gguf_path: Path, out_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    # Loading dequantizes the weights; transformers refuses to save while the GGUF quantizer is attached.
    model.hf_quantizer = None
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)

    # The builder rejects a config that still declares GGUF quantization, though the weights are float now.
    config_path = out_dir / "config.json"
    config = json.loads(config_path.read_text())
    config.pop("quantization_config", None)
    config_path.write_text(json.dumps(config, indent=2) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(f"usage: {Path(sys.argv[0]).name} MODEL.gguf OUT_DIR")
    convert(Path(sys.argv[1]), Path(sys.argv[2]))
