"""What the baselines share: the peer protocol, mapping a peer's chunk back to character offsets of its
document (overlap with gold evidence is scored on offsets, exactly as for our passages), and the scoring of a
peer's retrieval with the same metric functions as ours."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from rag.records import Document

from ..gold import GoldQuestion
from ..metrics import Span, evidence_recall, hit_at, hits_evidence, retrieval_figures
from ..records import QuestionRun, QuestionScore
from ..stats import percentile


@dataclass(frozen=True, slots=True)
class BuildStats:
    passages: int
    mean_passage_chars: float
    offsets_exact: int  # chunks whose recorded start offset reproduces their text
    offsets_found: int  # chunks placed by searching the document for their text
    offsets_lost: int  # chunks that could not be placed (they can never hit evidence)


class Peer(Protocol):
    """A peer RAG stack's retrieval, wrapped: index the documents once, then top-k spans per question."""

    name: str

    def build(self, documents: Sequence[Document]) -> BuildStats: ...

    def search(self, question: str, k: int) -> list[Span]: ...


class OffsetMapper:
    """Turns (document id, recorded start offset, chunk text) into a `Span`, checking the offset."""

    def __init__(self, documents: Sequence[Document]) -> None:
        self.texts = {d.id: d.text for d in documents}
        self.exact = self.found = self.lost = 0

    def span(self, doc_id: str, start: int | None, text: str, *, count: bool = True) -> Span:
        doc = self.texts.get(doc_id, "")
        if start is not None and start >= 0 and doc[start:start + len(text)] == text:
            self.exact += count
            return Span(doc_id, start, start + len(text), text)
        found = doc.find(text) if text else -1
        if found >= 0:
            self.found += count
            return Span(doc_id, found, found + len(text), text)
        self.lost += count
        return Span(doc_id, 0, 0, text)

    def stats(self, spans: Sequence[Span]) -> BuildStats:
        chars = [s.end - s.start for s in spans]
        mean = sum(chars) / len(chars) if chars else 0.0
        return BuildStats(len(spans), mean, self.exact, self.found, self.lost)


class PeerRun:
    """One peer through one evaluation: its index built (timed) on creation, then asked each question right
    after our engine, so that both are timed under the same load on a shared machine."""

    def __init__(self, peer: Peer, documents: Sequence[Document], *, k: int,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.peer, self.k, self.clock = peer, k, clock
        t0 = clock()
        self.stats = peer.build(documents)
        self.build_s = clock() - t0
        self.scores: list[QuestionScore] = []

    def ask(self, q: GoldQuestion) -> None:
        t0 = self.clock()
        spans = self.peer.search(q.question, self.k)[: self.k]
        ms = (self.clock() - t0) * 1000
        self.scores.append(QuestionScore(q.id, q.answerable, tuple(hits_evidence(q, s) for s in spans),
                                         evidence_recall(q, spans), False, False, (), (), ms))

    def figures(self) -> dict[str, Any]:
        st = self.stats
        return figures(self.scores, [s.latency_ms for s in self.scores if s.latency_ms is not None], k=self.k,
                       build_s=self.build_s, passages=st.passages, mean_chars=st.mean_passage_chars,
                       offsets={"exact": st.offsets_exact, "found": st.offsets_found, "lost": st.offsets_lost})


def figures(scores: Sequence[QuestionScore], latencies: Sequence[float], *, k: int, build_s: float,
            passages: int, mean_chars: float, offsets: dict[str, int] | None = None) -> dict[str, Any]:
    """One row of the side-by-side table."""
    ans = [s for s in scores if s.answerable]
    out: dict[str, Any] = {key: None if v is None else round(v, 4)
                           for key, v in retrieval_figures(scores, k=k).items()}
    curve = {str(n): hit_at(ans, n, k) for n in range(1, k + 1)}
    out.update({
        "passages": passages,
        "mean_passage_chars": round(mean_chars, 1),
        "build_s": round(build_s, 3),
        "query_p50_ms": None if not latencies else round(percentile(latencies, 50) or 0.0, 3),
        "query_p95_ms": None if not latencies else round(percentile(latencies, 95) or 0.0, 3),
        "hit_curve": {n: None if v is None else round(v, 4) for n, v in curve.items()},
    })
    if offsets is not None:
        out["offsets"] = offsets
    return out


def ours(
    runs: Sequence[QuestionRun], *, k: int, build_s: float, passages: int, mean_chars: float
) -> dict[str, Any]:
    """Our row: retrieval figures of the harness run itself; query latency from the engine's own timings of
    query embedding and search (so it compares with the peers' retrieval calls, without answer selection)."""
    lat = []
    for r in runs:
        t = dict(r.answer.timings) if r.answer is not None else {}
        if "embed_ms" in t and "retrieve_ms" in t:
            lat.append(float(t["embed_ms"]) + float(t["retrieve_ms"]))
    return figures([r.score for r in runs], lat, k=k, build_s=build_s, passages=passages,
                   mean_chars=mean_chars)
