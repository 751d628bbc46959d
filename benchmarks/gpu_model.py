"""A model for timing where the real weights cannot travel: the real GGUF's tokenizer and metadata
with random weights of the real tensors' names, shapes and types (llama-server's speed and memory
are those of the real model; its answers are noise).

    python benchmarks/gpu_model.py vocab REAL.gguf VOCAB.gguf   # here: metadata + tensor list (~6 MB)
    python benchmarks/gpu_model.py expand VOCAB.gguf MODEL.gguf # on the GPU machine: random weights

Quantized blocks get random bytes below 0x18, so every fp16 scale in them is small and finite (no
NaN or infinity reaches the activations); F32 tensors (norms, biases) get ones and small normals.
"""

from __future__ import annotations

import json
import sys

import numpy as np
from gguf import (
    GGML_QUANT_SIZES,
    GGMLQuantizationType,
    GGUFReader,
    GGUFValueType,
    GGUFWriter,
)

TENSORS_KEY = "bakeoff.tensors"
SMALL_BYTE = 0x18


def copy_fields(reader: GGUFReader, writer: GGUFWriter, skip: set[str]) -> None:
    for name, field in reader.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture" or name in skip:
            continue
        vtype = field.types[0]
        sub_type = field.types[-1] if vtype == GGUFValueType.ARRAY else None
        writer.add_key_value(name, field.contents(), vtype, sub_type=sub_type)


def write(writer: GGUFWriter) -> None:
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def vocab(real: str, out: str) -> None:
    reader = GGUFReader(real)
    arch = reader.fields["general.architecture"].contents()
    writer = GGUFWriter(out, arch)
    copy_fields(reader, writer, set())
    tensors = [[t.name, [int(d) for d in t.shape], int(t.tensor_type)] for t in reader.tensors]
    writer.add_string(TENSORS_KEY, json.dumps(tensors))
    write(writer)


def random_tensor(rng: np.random.Generator, name: str, shape: list[int], qtype: GGMLQuantizationType) -> np.ndarray:
    dims = list(reversed(shape))  # ggml lists the fastest-moving dimension first
    if qtype == GGMLQuantizationType.F32:
        if "norm" in name:
            return np.ones(dims, dtype=np.float32)
        return (rng.standard_normal(dims) * 0.02).astype(np.float32)
    block, size = GGML_QUANT_SIZES[qtype]
    dims[-1] = dims[-1] // block * size
    return rng.integers(0, SMALL_BYTE, size=dims, dtype=np.uint8)


def expand(vocab_file: str, out: str) -> None:
    reader = GGUFReader(vocab_file)
    arch = reader.fields["general.architecture"].contents()
    tensors = json.loads(reader.fields[TENSORS_KEY].contents())
    writer = GGUFWriter(out, arch)
    copy_fields(reader, writer, {TENSORS_KEY})
    rng = np.random.default_rng(0)
    for name, shape, qtype in tensors:
        qtype = GGMLQuantizationType(qtype)
        data = random_tensor(rng, name, shape, qtype)
        writer.add_tensor(name, data, raw_dtype=None if qtype == GGMLQuantizationType.F32 else qtype)
    write(writer)


if __name__ == "__main__":
    {"vocab": vocab, "expand": expand}[sys.argv[1]](*sys.argv[2:])
