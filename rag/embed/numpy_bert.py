"""A numpy forward pass of a BERT sentence encoder (mean pooling, unit length): questions embedded without torch.

Loading torch, transformers and sentence-transformers takes 3-15 s on these machines, most of a cold
`rag ask`; one question through this forward pass takes a few milliseconds, and its vector agrees with
sentence-transformers' float32 one to a cosine of 0.99999 (tests/test_embed_minibert.py). It reads the
model folder sentence-transformers reads (config.json, model.safetensors, tokenizer.json, modules.json) and
supports exactly the layout of all-MiniLM-L6-v2 and its BERT siblings: Transformer, mean Pooling, optionally
Normalize. `NumpyBert.from_folder` returns None for anything else, and torch does the work instead.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

_ST_TYPES = ("sentence_transformers.models.", "sentence_transformers.base.modules.")


def _module_kinds(folder: Path) -> list[str] | None:
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    kinds = []
    for m in modules:
        t = str(m.get("type", ""))
        kinds.append(t.rsplit(".", 1)[-1] if t.startswith(_ST_TYPES) else t)
    return kinds


def _gelu(h: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, h * Phi(h), computed in place in `h`. numpy has no erf: Abramowitz & Stegun 7.1.26
    (|error| < 1.5e-7) gives erf(|h| / sqrt 2) = 1 - P * exp(-h^2 / 2), so that GELU is
    max(h, 0) - |h| * P * exp(-h^2 / 2) / 2. In place, without branches: a reader's pair makes the largest
    arrays of the pass, and each temporary of the plain formula cost a pass over them."""
    a = np.abs(h)
    t = a * (0.3275911 / math.sqrt(2.0))
    t += 1.0
    np.reciprocal(t, out=t)
    poly = t * 1.061405429
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += c
        poly *= t
    poly *= a
    np.square(a, out=a)
    a *= -0.5
    np.exp(a, out=a)
    poly *= a
    poly *= 0.5
    np.maximum(h, 0.0, out=h)
    h -= poly
    return h


_blas: Any = None


def _one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """numpy's BLAS on one thread for the duration. A question's matrices are small: splitting each product
    across threads gains nothing, and on a busy machine every product then waits for a descheduled thread —
    one question took 700 ms instead of 7 (bench/embedding.py). Without threadpoolctl, nothing is changed."""
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController

            _blas = ThreadpoolController()
        except ImportError:
            _blas = False
    if _blas is False:
        return contextlib.nullcontext()
    return _blas.limit(limits=1, user_api="blas")


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


class NumpyBert:
    """BERT encoder weights as numpy arrays, with the model's own tokenizer (the `tokenizers` library)."""

    def __init__(self, weights: dict[str, np.ndarray], config: dict[str, Any], tokenizer: Any,
                 max_seq_length: int) -> None:
        self.dim = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.max_seq_length = max_seq_length
        self.tokenizer = tokenizer  # truncates to max_seq_length, as sentence-transformers does
        # Counting needs whole texts: a second tokenizer, so that no thread ever sees truncation switched off.
        self._counter = type(tokenizer).from_str(tokenizer.to_str())
        self._counter.no_truncation()
        w = weights
        self.word, self.position = w["embeddings.word_embeddings.weight"], w["embeddings.position_embeddings.weight"]
        self.token_types = w["embeddings.token_type_embeddings.weight"]
        self.emb_ln = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            qkv_w = np.concatenate([w[p + f"attention.self.{n}.weight"] for n in ("query", "key", "value")]).T
            qkv_b = np.concatenate([w[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value")])
            self.layers.append((
                np.ascontiguousarray(qkv_w), qkv_b,
                np.ascontiguousarray(w[p + "attention.output.dense.weight"].T), w[p + "attention.output.dense.bias"],
                w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"],
                np.ascontiguousarray(w[p + "intermediate.dense.weight"].T), w[p + "intermediate.dense.bias"],
                np.ascontiguousarray(w[p + "output.dense.weight"].T), w[p + "output.dense.bias"],
                w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"],
            ))

    @classmethod
    def from_folder(cls, folder: str | Path, *,
                    adapt: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None) -> NumpyBert | None:
        """The encoder of a sentence-transformers folder, or None when its layout is not the supported one.
        `adapt` changes the weights once read (a reader merges its adapters into them: `rag.span.reader`)."""
        folder = Path(folder)
        if _module_kinds(folder) not in (["Transformer", "Pooling", "Normalize"], ["Transformer", "Pooling"]):
            return None
        try:
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
            pooling = json.loads((folder / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
            st_config = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v}
        supported = (
            config.get("model_type") == "bert" and config.get("hidden_act") == "gelu"
            and config.get("position_embedding_type", "absolute") == "absolute"
            and modes == {"pooling_mode_mean_tokens"}
            and (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()
        )
        if not supported:
            return None
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        max_len = min(int(st_config.get("max_seq_length", 512)), int(config.get("max_position_embeddings", 512)))
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=max_len)
        weights = load_file(str(folder / "model.safetensors"))
        if any(v.dtype != np.float32 for k, v in weights.items() if k.endswith((".weight", ".bias"))):
            return None
        return cls(adapt(weights) if adapt else weights, config, tokenizer, max_len)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text without special tokens, untruncated."""
        return [len(e.ids) for e in self._counter.encode_batch(list(texts), add_special_tokens=False)]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 sentence vectors (mean of the last layer's token vectors)."""
        with _one_blas_thread():
            return self._encode(texts)

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        enc = self.tokenizer.encode_batch(list(texts))
        n, width = len(enc), max(len(e.ids) for e in enc)
        ids = np.zeros((n, width), np.int64)
        mask = np.zeros((n, width), np.float32)
        for i, e in enumerate(enc):
            ids[i, : len(e.ids)] = e.ids
            mask[i, : len(e.ids)] = 1.0
        x = self.hidden(ids, np.zeros_like(ids), mask)
        pooled = (x * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.ascontiguousarray(pooled / np.maximum(norms, 1e-12), dtype=np.float32)

    def hidden(self, ids: np.ndarray, types: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The last layer's token vectors, (n, width, dim) float32, for token `ids`, segment `types` (0 for a
        single text; 0 and 1 for a pair) and `mask` (1.0 for a token, 0.0 for padding), all (n, width)."""
        n, width = ids.shape
        x = self.word[ids] + self.position[:width] + self.token_types[types]
        x = _layer_norm(x, *self.emb_ln, self.eps)
        bias = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]  # padding gets no attention
        hd = self.dim // self.heads
        for qkv_w, qkv_b, o_w, o_b, ln1_w, ln1_b, i_w, i_b, f_w, f_b, ln2_w, ln2_b in self.layers:
            qkv = (x @ qkv_w + qkv_b).reshape(n, width, 3, self.heads, hd).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            scores = q @ k.transpose(0, 1, 3, 2) * (1.0 / math.sqrt(hd)) + bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            ctx = (scores @ v).transpose(0, 2, 1, 3).reshape(n, width, self.dim)
            x = _layer_norm(ctx @ o_w + o_b + x, ln1_w, ln1_b, self.eps)
            h = _gelu(x @ i_w + i_b)
            x = _layer_norm(h @ f_w + f_b + x, ln2_w, ln2_b, self.eps)
        return x
