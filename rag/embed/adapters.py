"""Low-rank adapters (LoRA) the project trains over all-MiniLM-L6-v2, read and merged into its weights at load.

An adapter file is a `.npz` of `<weight name>.lora_A` / `.lora_B` pairs (float16), any other arrays its model
needs (the reader's head), and `meta`: JSON bytes with the SHA-256 of the base model's weights it was trained
on and the LoRA scale (alpha / rank). Merged (`W + B @ A * scale`), the adapted model costs what the base model
costs: one numpy forward pass (`rag.embed.numpy_bert`). The reader (`rag.span.reader`) and the question encoder
(`rag.embed.query`) are two such files.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import RagError


class AdapterError(RagError):
    """An adapter file is missing, damaged, or was trained on another base model than the one given."""


@dataclass(frozen=True)
class Adapters:
    """An adapter file's arrays (adapters and any others) and its meta (`scale`, `base_sha256`, ...)."""

    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]

    def merge_into(self, base: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """`base`'s weights with each adapter merged in."""
        return merged(base, self.arrays, float(self.meta["scale"]))


def merged(base: dict[str, np.ndarray], adapters: dict[str, np.ndarray], scale: float) -> dict[str, np.ndarray]:
    """The base model's weights with each adapter merged in: `name.weight + name.lora_B @ name.lora_A * scale`."""
    out = dict(base)
    for key in adapters:
        if key.endswith(".lora_A"):
            name = key[: -len(".lora_A")]
            a = adapters[key].astype(np.float32)
            b = adapters[name + ".lora_B"].astype(np.float32)
            out[name + ".weight"] = (base[name + ".weight"] + (b @ a) * np.float32(scale)).astype(np.float32)
    return out


def base_checksum(folder: Path) -> str:
    """The SHA-256 of a model folder's weights (model.safetensors), which an adapter file is tied to."""
    weights = folder / "model.safetensors"
    stat = weights.stat()
    return _checksum(str(weights.resolve()), stat.st_size, stat.st_mtime_ns)


@cache
def _checksum(path: str, size: int, mtime_ns: int) -> str:
    """Hashing 90 MB takes 0.2 s and a cold question checks two adapter files against the same weights: once
    per file state (its size and modification time are part of the key)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read(path: Path, folder: Path, *, retrain: str) -> Adapters:
    """The adapter file at `path`, checked against the base model in `folder`. AdapterError when it is missing
    or damaged, or its base was another model (the message says to run `retrain`)."""
    try:
        with np.load(path, allow_pickle=False) as raw:
            arrays = {k: raw[k] for k in raw.files}
        meta = _decoded(arrays.pop("meta"))
        digest = base_checksum(folder)
    except (OSError, ValueError, KeyError) as exc:
        raise AdapterError(f"cannot read {path}: {exc}") from exc
    if digest != meta.get("base_sha256"):
        raise AdapterError(f"{path.name} was trained on another base model than {folder / 'model.safetensors'} "
                           f"(its checksum differs): retrain it with `{retrain}`")
    return Adapters(arrays, meta)


def read_meta(path: Path) -> dict[str, Any]:
    """The meta of the adapter file at `path` alone, its arrays left unread; AdapterError when it is missing or
    damaged."""
    try:
        with np.load(path, allow_pickle=False) as raw:
            return _decoded(raw["meta"])
    except (OSError, ValueError, KeyError) as exc:
        raise AdapterError(f"cannot read {path}: {exc}") from exc


def _decoded(meta: np.ndarray) -> dict[str, Any]:
    """An adapter file's `meta` array (JSON bytes) as a dict."""
    out: dict[str, Any] = json.loads(str(meta.tobytes(), "utf-8"))
    return out


def version(path: Path, meta: Path) -> dict[str, Any]:
    """What a report records of an adapter file: its checksum (`file` None when there is none) and, from its
    meta file beside it, when and on what it was trained and its held-out figures."""
    if not path.is_file():
        return {"file": None}
    out: dict[str, Any] = {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()[:16]}
    if meta.is_file():
        raw = json.loads(meta.read_text(encoding="utf-8"))
        out.update({k: raw[k] for k in ("trained", "held_out") if k in raw})
    return out


def write(path: Path, arrays: dict[str, np.ndarray], *, folder: Path, scale: float, **meta: Any) -> None:
    """An adapter file as `read` reads it, tied to the base model in `folder` by its checksum."""
    info = {"base_sha256": base_checksum(folder), "scale": scale, **meta}
    named = {"meta": np.frombuffer(json.dumps(info).encode(), dtype=np.uint8), **arrays}
    with path.open("wb") as f:
        np.savez_compressed(f, **named)  # type: ignore[arg-type]  # numpy's stubs take the names for options
