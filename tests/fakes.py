"""Test doubles, in a plain module: tests get them through the fixtures in conftest.py (`fake_embedder`,
`make_fake_embedder`); only code a fixture cannot reach (worker processes, module-level definitions)
imports this module, and says why."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

_TOKEN = re.compile(r"\w+|[^\w\s]")


class FakeEmbedder:
    """A deterministic bag-of-hashed-words embedder: texts sharing words get close vectors. No model, no torch.

    `name` stands for another model when given (an index built with one is a mismatch for the other)."""

    name = "fake-hash-64"
    dim = 64
    max_tokens = 62

    def __init__(self, name: str | None = None) -> None:
        if name is not None:
            self.name = name
        self.calls: list[int] = []  # how many texts each embed() call received

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(_TOKEN.findall(t)) for t in texts]

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        self.calls.append(len(texts))
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")
                out[i, h % self.dim] += 1.0 if (h >> 16) & 1 else -1.0
            norm = np.linalg.norm(out[i])
            out[i] = out[i] / norm if norm else out[i]
            if not norm:
                out[i, 0] = 1.0
        return out

    @property
    def texts_embedded(self) -> int:
        return sum(self.calls)
