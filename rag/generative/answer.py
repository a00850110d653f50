"""The generative answerer: a generator writes the answer from the numbered passages; `rag.generative.check` checks it.

It starts from the extractive answer for the same question (same retrieval, same passages) and returns that
answer instead when the generated one does not hold up: when too few of its sentences are supported by a
source span, or when the extractive answerer abstained (the passages do not answer the question). Either way
the same `Answer` type comes back; `answerer` says which one produced it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from rag.embed.model import Embedder
from rag.generative.check import DEFAULT_PARAMS, GroundParams, Key, Similarity, check, render
from rag.generative.prompt import GenerationPrompt, build_prompt
from rag.generative.protocol import Generator
from rag.index.index import Index
from rag.records import Answer
from rag.text.terms import terms

Message = Mapping[str, object]


def index_similarity(index: Index, embedder: Embedder) -> Similarity:
    """Cosines between claims (embedded now, in one batch) and source sentences (vectors stored in the index)."""

    def similarity(claims: Sequence[str], keys: Sequence[Key]) -> np.ndarray:
        claim_vecs = embedder.embed(list(claims))
        try:
            rows = index.sentence_vector_rows(keys)
        except KeyError:  # a passage sentence without a stored vector: compare lexically only
            return np.zeros((len(claims), len(keys)), np.float32)
        return np.asarray(claim_vecs @ index.sentence_vectors[rows].T, np.float32)

    return similarity


def prepare(index: Index, base: Answer, generator: Generator, *,
            history: Sequence[Message] | None = None) -> GenerationPrompt:
    """The prompt for `base`'s question over `base`'s passages, trimmed to what the generator can read."""
    limit = generator.max_prompt_tokens
    dates = {sp.passage.doc_id: index.documents[sp.passage.doc_id].date for sp in base.passages
             if sp.passage.doc_id in index.documents}
    return build_prompt(
        base.question or base.query, base.passages, history=history, dates=dates,
        fits=None if limit is None else (lambda msgs: generator.prompt_tokens(msgs) <= limit),
    )


def finish(
    index: Index, base: Answer, prompt: GenerationPrompt, generated: str, *,
    embedder: Embedder | None = None, params: GroundParams = DEFAULT_PARAMS, generate_ms: float = 0.0,
) -> Answer:
    """The checked generated answer, or `base` when too little of `generated` is supported."""
    t0 = time.perf_counter()
    checked = check(
        generated, prompt.passages, index.documents,
        terms=terms,
        similarity=index_similarity(index, embedder) if embedder is not None else None,
        params=params,
    )
    n_ok = sum(c.supported for c in checked)
    ground_ms = (time.perf_counter() - t0) * 1000
    timings = {**base.timings, "generate_ms": round(generate_ms, 3), "ground_ms": round(ground_ms, 3)}
    timings["total_ms"] = round(float(base.timings.get("total_ms", 0.0)) + generate_ms + ground_ms, 3)
    if not checked or n_ok == 0 or n_ok / len(checked) < params.min_supported:
        return dataclasses.replace(base, timings=timings)  # the extractive answer (or its abstention)
    text, citations, supported = render(checked, index.documents, drop_unsupported=params.drop_unsupported)
    return dataclasses.replace(
        base, text=text, citations=citations, abstained=False, answerer="generative", supported=supported,
        timings=timings,
    )


def generative_answer(
    index: Index, base: Answer, generator: Generator, *, embedder: Embedder | None = None,
    history: Sequence[Message] | None = None, params: GroundParams = DEFAULT_PARAMS,
) -> Answer:
    """Generate an answer to `base`'s question from `base`'s passages and check it; see the module docstring."""
    if not base.passages or (base.abstained and params.abstain_with_extractive):
        return base
    prompt = prepare(index, base, generator, history=history)
    t0 = time.perf_counter()
    generated = generator.generate(list(prompt.messages))
    return finish(index, base, prompt, generated, embedder=embedder, params=params,
                  generate_ms=(time.perf_counter() - t0) * 1000)


def stream_answer(
    index: Index, base: Answer, generator: Generator, *, embedder: Embedder | None = None,
    history: Sequence[Message] | None = None, params: GroundParams = DEFAULT_PARAMS,
) -> Iterator[str | Answer]:
    """The generated text so far (a growing str, unchecked) after each piece, then the checked `Answer`,
    which is what a chat must show in the end: it replaces the stream."""
    if not base.passages or (base.abstained and params.abstain_with_extractive):
        yield base
        return
    prompt = prepare(index, base, generator, history=history)
    t0 = time.perf_counter()
    text = ""
    for piece in generator.stream(list(prompt.messages)):
        text += piece
        yield text
    yield finish(index, base, prompt, text, embedder=embedder, params=params,
                 generate_ms=(time.perf_counter() - t0) * 1000)
