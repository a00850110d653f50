"""The committed reranker through the real all-MiniLM-L6-v2 on the seed article: the acceptance cases still hold
when hybrid search reranks (the default), as they do with RRF."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SEEDS

from rag.collection import build_index
from rag.embed.model import Embedder, embed_queries
from rag.engine import Engine
from rag.index.index import Index
from rag.rank.model import default_ranker, rerank
from rag.retrieve import dense_hits, lexical_hits

pytestmark = pytest.mark.integration
MOU = "When did Turkey and Syria sign the memorandum of understanding?"
WORLD_CUP = "Who won the 2022 FIFA World Cup?"


@pytest.fixture(scope="module")
def seed_index(tmp_path_factory: pytest.TempPathFactory, real_embedder: Embedder) -> Path:
    folder = tmp_path_factory.mktemp("seed-index")
    build_index(folder, [SEEDS], embedder=real_embedder)
    return folder


@pytest.mark.parametrize("fusion", ["ranker", "rrf"])
def test_seed_acceptance_cases(seed_index: Path, real_embedder: Embedder, fusion: str) -> None:
    engine = Engine(Index.load(seed_index), real_embedder, fusion=fusion)  # type: ignore[arg-type]
    mou = engine.ask(MOU)
    assert not mou.abstained
    assert mou.short_answer == "Aug. 13"
    sentence = next(c for c in mou.citations if c.role == "support")
    assert sentence.quote.startswith("On Aug. 13, Turkey and Syria signed a memorandum of understanding")
    cup = engine.ask(WORLD_CUP)
    assert cup.abstained and not cup.citations and cup.passages


def test_hybrid_answers_from_the_reranked_passages(seed_index: Path, real_embedder: Embedder) -> None:
    engine = Engine(Index.load(seed_index), real_embedder)
    answer = engine.ask(MOU)
    v = embed_queries(real_embedder, [MOU])[0]  # the question as the engine embeds it
    index = engine.index
    best, _ = rerank(index, MOU, v, dense_hits(index, v, 40), lexical_hits(index, MOU, 40), ranker=default_ranker(),
                     k=10)
    assert [p.passage.id for p in answer.passages] == [pid for pid, _ in best]
    assert answer.passages[0].score == pytest.approx(best[0][1], abs=1e-5)
