"""Chunking and citation offsets on arbitrary Unicode (hypothesis): every passage and sentence is the document's
text at its offsets, every visible character is in some passage, and no passage holds more tokens than the
budget, counted by the fake tokenizer and, on fewer examples, by the real MiniLM tokenizer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.cite import make_citation, render, verify
from rag.embed.model import Embedder
from rag.records import Document
from rag.text.chunk import TokenCounter, chunk_document

WORDS = st.sampled_from([
    "Aug.", "13,", "U.S.", "Dr.", "Turkey", "signed", "the", "a", "memorandum", "...", "?", "!", ".", "\n", "\n\n",
    " ", "“", "”", "—", "土耳其和叙利亚签署了协议", "。", "مرحبا", "؟", "👍🏽", "e\u0301", "\u00a0", "\t",
    "https://example.com/a/very/long/path/that/is/one/word/and/never/ends/" * 3, "x" * 150, "\u200b",
])
TEXT = st.one_of(
    st.text(min_size=1, max_size=600),
    st.lists(st.one_of(WORDS, st.text(max_size=8)), min_size=1, max_size=150).map(" ".join),
)


def _check(doc: Document, count: TokenCounter, max_tokens: int, overlap: int, first_id: int) -> None:
    passages = chunk_document(doc, count_tokens=count, max_tokens=max_tokens, overlap=overlap, first_id=first_id)
    text = doc.text
    assert [p.id for p in passages] == list(range(first_id, first_id + len(passages)))
    covered: set[int] = set()
    prev_start = -1
    for p in passages:
        assert p.doc_id == doc.id and p.text == text[p.start:p.end] and p.text
        assert count([p.text])[0] <= max_tokens, (p.text, count([p.text]))
        assert p.start > prev_start  # passages move forward
        prev_start = p.start
        assert p.sentences[0][0] == p.start and p.sentences[-1][1] == p.end
        prev = p.start
        for s, e in p.sentences:
            assert prev <= s < e <= p.end
            assert text[s:e] == text[s:e].strip()
            covered.update(range(s, e))
            prev = e
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())
    # Citations made from any sentence quote the document exactly, and verify() accepts the rendered answer.
    spans = sorted({s for p in passages for s in p.sentences})[:5]
    citations = [make_citation(doc, s, e, marker=i) for i, (s, e) in enumerate(spans, 1)]
    assert all(c.quote == text[c.start:c.end] for c in citations)
    verify(render([(c.quote, c.marker) for c in citations]), citations, {doc.id: doc})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXT, st.integers(8, 40), st.integers(0, 3), st.integers(0, 1000))
def test_passages_are_exact_cover_the_text_and_fit_the_budget(make_fake_embedder: Any, text: str, max_tokens: int,
                                                               overlap: int, first_id: int) -> None:
    emb = make_fake_embedder()
    doc = Document(id="d", title="t", text=text)
    if not any(not ch.isspace() for ch in text):
        assert chunk_document(doc, count_tokens=emb.count_tokens, max_tokens=max_tokens) == []
        return
    _check(doc, emb.count_tokens, max_tokens, overlap, first_id)


class _Subadditive:
    """A tokenizer whose count of joined text is more than the sum of its parts (as byte-pair merges can be):
    the chunker must check what it joins, not trust the sum."""

    def __call__(self, texts: Sequence[str]) -> list[int]:
        return [len(t) // 3 + t.count(" ") * 2 for t in texts]


@settings(max_examples=100, deadline=None)
@given(TEXT, st.integers(8, 30))
def test_the_budget_holds_even_when_joined_text_costs_more_than_its_parts(text: str, max_tokens: int) -> None:
    if not text.strip():
        return
    _check(Document(id="d", title="t", text=text), _Subadditive(), max_tokens, 1, 0)


def test_a_huge_sentence_without_spaces_is_cut_in_linear_time() -> None:
    calls: list[int] = []

    def count(texts: Sequence[str]) -> list[int]:
        calls.append(sum(map(len, texts)))
        return [len(t) for t in texts]  # one token per character, like Chinese text

    doc = Document(id="zh", title="t", text="字" * 200_000)
    passages = chunk_document(doc, count_tokens=count, max_tokens=100, overlap=0)
    assert len(passages) == 2000 and all(len(p.text) == 100 for p in passages)
    # The characters handed to the tokenizer stay a small multiple of the text (galloping search), where
    # halving from the whole remaining text would tokenize gigabytes.
    assert sum(calls) < 20 * len(doc.text)


@pytest.mark.integration
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXT, max_tokens=st.integers(8, 48))
def test_the_budget_holds_with_the_real_tokenizer(real_embedder: Embedder, text: str, max_tokens: int) -> None:
    if not text.strip():
        return
    _check(Document(id="d", title="t", text=text), real_embedder.count_tokens, max_tokens, 1, 0)
