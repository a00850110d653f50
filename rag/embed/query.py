"""The question encoder: all-MiniLM-L6-v2 with adapters trained for questions, run with numpy.

`query.npz` (written by `eval/train_query.py`, with `query.meta.json` beside it: the data it saw, its settings,
its held-out figures) holds low-rank adapters for the question side only. Passages and sentences keep the base
model's vectors, so nothing indexed is re-embedded: the adapters move a question's vector towards the
sentences that answer questions like it (trained on squad-dev and news-rtqa with their evidence sentence as the
target, against the base model's fixed sentence vectors). Merged into the base weights at load, a question
costs what it cost before: one numpy forward pass.

They apply only over the model they were trained on (its weights' checksum); any other embedding model embeds
questions as it embeds passages (`rag.embed.model.SentenceTransformerEmbedder.embed_queries`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.embed.adapters import AdapterError, base_checksum, read, read_meta
from rag.embed.adapters import version as adapter_version

WEIGHTS_FILE = Path(__file__).with_name("query.npz")
META_FILE = Path(__file__).with_name("query.meta.json")
RETRAIN = "python -m eval.train_query --write"
_BATCH = 32  # questions per forward pass when many are embedded at once (the harness, the fitting scripts)


class QueryEncoder:
    """The adapted numpy encoder of questions."""

    def __init__(self, encoder: Any) -> None:
        self.encoder = encoder

    @classmethod
    def load(cls, folder: Path, path: Path = WEIGHTS_FILE) -> QueryEncoder:
        """The adapters of `path` over the base model in `folder`; AdapterError when the file is missing or
        damaged, or `folder` holds another model than the one they were trained on."""
        from rag.embed.numpy_bert import NumpyBert

        adapters = read(path, folder, retrain=RETRAIN)
        encoder = NumpyBert.from_folder(folder, adapt=adapters.merge_into)
        if encoder is None:
            raise AdapterError(f"the model at {folder} is not a BERT encoder numpy can run")
        return cls(encoder)

    @staticmethod
    def fits(folder: Path, path: Path = WEIGHTS_FILE) -> bool:
        """Whether `folder` holds the model the adapters of `path` were trained on: False without the file or
        for another model; AdapterError when the file is there but damaged (the reranker and answerability are
        fitted on adapted questions: falling back to plain ones unannounced would quietly answer worse)."""
        if not path.is_file() or not (folder / "model.safetensors").is_file():
            return False
        try:
            meta = read_meta(path)
        except AdapterError as exc:
            raise AdapterError(f"{exc}; restore it or retrain it with `{RETRAIN}`") from exc
        return bool(meta.get("base_sha256") == base_checksum(folder))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors of `texts`, in batches of similar length."""
        texts = list(texts)
        if len(texts) <= _BATCH:
            return self.encoder.encode(texts)
        out = np.empty((len(texts), self.encoder.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for at in range(0, len(order), _BATCH):
            rows = order[at:at + _BATCH]
            out[rows] = self.encoder.encode([texts[i] for i in rows])
        return out


def version(path: Path = WEIGHTS_FILE, meta: Path = META_FILE) -> dict[str, Any]:
    """What a report records of the question encoder: its file's checksum and when and on what it was trained."""
    return adapter_version(path, meta)
