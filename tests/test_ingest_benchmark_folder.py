"""A benchmark folder (../shared/GOLD_FORMAT.md: corpus.jsonl, gold.jsonl and SOURCE.md) indexes its articles
only: its gold questions and its note on where the data comes from are not articles."""

from __future__ import annotations

import json
from pathlib import Path

from rag.ingest.corpus import load_corpus

GOOD = "Storm hits coast\nA storm hit the coast on Monday. Officials said 3 people were hurt.\n"


def test_a_gold_file_beside_the_articles_is_not_read_as_articles(tmp_path: Path) -> None:
    root = tmp_path / "bench"
    root.mkdir()
    (root / "story.txt").write_text(GOOD)
    (root / "gold.jsonl").write_text(json.dumps({"id": "q1", "question": "When?", "answers": ["Monday"],
                                                 "evidence": ["A storm hit the coast on Monday."]}) + "\n")
    (root / "more.jsonl").write_text(json.dumps({"_id": "m1", "text": "More news."}) + "\n")
    result = load_corpus([root])
    assert [d.id for d in result.documents] == ["m1", "story.txt"] and not result.failures


def test_a_benchmark_folders_source_note_is_not_an_article(tmp_path: Path) -> None:
    """A benchmark folder (GOLD_FORMAT.md) is corpus.jsonl, gold.jsonl and SOURCE.md, which says where the data
    comes from; a SOURCE.md among ordinary article files is an article like any other."""
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "corpus.jsonl").write_text(json.dumps({"_id": "a1", "title": "T", "text": "Storm news."}) + "\n")
    (bench / "SOURCE.md").write_text("# Where this comes from\nA public dataset.\n")
    assert [d.id for d in load_corpus([bench]).documents] == ["a1"]
    articles = tmp_path / "articles"
    articles.mkdir()
    (articles / "SOURCE.md").write_text("# Sources of the week\nA column on where news comes from.\n")
    assert [d.id for d in load_corpus([articles]).documents] == ["SOURCE.md"]
