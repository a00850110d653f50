"""The reranker: features named, a tiny model trained through eval/train_ranker's own code on a FakeEmbedder
index ranks a planted relevant passage first, models survive a save and load, the committed model loads and
scores without LightGBM, and hybrid search uses it unless RRF is asked for."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, FakeEmbedder

from eval.gold import Evidence, GoldQuestion
from eval.ranker_data import QuestionData, assign_folds, collect
from eval.train_ranker import fit_logistic, model_ranking
from rag.engine import Engine
from rag.errors import QuestionError
from rag.index.index import Index
from rag.rank.features import FEATURES, features, union
from rag.rank.model import MODEL_FILE, Ranker, RankerError, default_ranker, load_ranker, rerank, version
from rag.records import Document, Hits
from rag.retrieve import dense_hits, fuse, lexical_hits, retrieve

ANIMALS = ["otter", "heron", "badger", "lynx", "marten", "weasel", "falcon", "beaver", "raven", "stoat",
           "osprey", "walrus", "bison", "ibex", "puffin", "gecko"]
FOODS = ["mussels", "minnows", "beetles", "hares", "voles", "mice", "pigeons", "willow", "acorns", "eggs",
         "trout", "clams", "grass", "lichen", "sandeels", "crickets"]
Tiny = tuple[Index, list[GoldQuestion], FakeEmbedder]


def _corpus() -> tuple[list[Document], list[GoldQuestion]]:
    """One article per animal: filler around a single sentence that answers "what does the X eat?". Every
    article mentions every animal's name in its filler, so the name alone does not find the answer."""
    docs, gold = [], []
    for i, (animal, food) in enumerate(zip(ANIMALS, FOODS, strict=True)):
        others = ", ".join(a for a in ANIMALS if a != animal)
        filler = f"Wardens counted the {animal} near the river this spring. Visitors also saw {others}. "
        fact = f"In winter the {animal} eats {food} almost every day. "
        text = filler * 3 + fact + filler * 2
        start = text.index(fact)
        docs.append(Document(f"doc{i}", f"Field notes {i}", text))
        gold.append(GoldQuestion(f"q{i}", f"What does the {animal} eat in winter?", (food,),
                                 (Evidence(f"doc{i}", start, start + len(fact)),), i + 1))
    return docs, gold


@pytest.fixture(scope="module")
def tiny() -> Tiny:
    emb = FakeEmbedder()
    docs, gold = _corpus()
    index = Index.create(emb)
    index.update(docs, embedder=emb)
    return index, gold, emb


@pytest.fixture(scope="module")
def tiny_data(tiny: Tiny) -> list[QuestionData]:
    index, gold, emb = tiny
    return collect("tiny", index, gold, emb)


def test_features_are_named_and_finite(tiny: Tiny) -> None:
    index, gold, emb = tiny
    q = gold[0].question
    v = emb.embed([q])[0]
    d, lx = dense_hits(index, v, 40), lexical_hits(index, q, 40)
    cands = union(d, lx, depth=30)
    fm = features(index, q, v, cands)
    assert fm.names == FEATURES and len(set(FEATURES)) == len(FEATURES)
    assert fm.values.shape == (len(cands), len(FEATURES)) and np.isfinite(fm.values).all()
    assert set(cands.ids.tolist()) == set(d.ids[:30].tolist()) | set(lx.ids[:30].tolist())
    assert fm.column("dense_gap").max() == 0.0 and fm.column("coverage_gap").max() == 0.0
    # The rrf column is RRF's own score (rag.retrieve.fuse) times 60, for every passage in both top-30 lists.
    fused = dict(fuse([Hits(d.ids[:30], d.scores[:30]), Hits(lx.ids[:30], lx.scores[:30])], k=100))
    for pid, value in zip(fm.ids.tolist(), fm.column("rrf").tolist(), strict=True):
        assert value == pytest.approx(60 * fused[pid])


def test_the_answerer_and_the_reranker_share_one_answer_type_rule() -> None:
    """One definition of the kind of fact asked for and whether a text holds it (rag.rank.query): the reranker's
    features and the answerer's cannot drift apart."""
    from rag import extractive
    from rag.rank import query

    assert extractive.QueryTerms is query.QueryTerms and extractive.type_match is query.type_match
    assert query.question_type("When did Turkey and Syria sign the memorandum?") == "date"
    assert query.type_match("date", "On Aug. 13 nothing", "When?") == 1.0


def test_tiny_ranker_puts_the_planted_passage_first(tiny: Tiny, tiny_data: list[QuestionData],
                                                    tmp_path: Path) -> None:
    index, _, emb = tiny
    assert all(d.labels.any() for d in tiny_data)  # every planted passage is among the candidates
    train, held = tiny_data[:12], tiny_data[12:]  # held-out articles: never seen by the model
    ranker = fit_logistic(train)
    path = tmp_path / "model.json"
    ranker.save(path)
    loaded = load_ranker(path)
    for d in held:
        top = model_ranking(d, loaded)[0]
        assert top in d.hit_ids, d.question.question
        v = emb.embed([d.question.question])[0]
        first = retrieve(index, d.question.question, v, k=3, ranker=loaded)[0].passage
        assert first.id == top


def test_folds_keep_groups_whole() -> None:
    groups = ["a"] * 5 + ["b"] * 3 + ["c"] * 3 + ["d"] * 2 + ["e"] + ["f"]
    folds = assign_folds(groups, 3)
    for g in set(groups):
        assert len({f for f, gg in zip(folds, groups, strict=True) if gg == g}) == 1
    assert sorted(np.bincount(folds).tolist()) == [5, 5, 5]


def test_committed_model_loads_and_scores(tiny: Tiny) -> None:
    assert MODEL_FILE.is_file(), "rag/rank/model.json is committed"
    assert MODEL_FILE.stat().st_size < 1_000_000
    ranker = default_ranker()
    assert isinstance(ranker, Ranker) and set(ranker.names) <= set(FEATURES)
    index, gold, emb = tiny
    q = gold[3].question
    v = emb.embed([q])[0]
    best, cands = rerank(index, q, v, dense_hits(index, v, 40), lexical_hits(index, q, 40), ranker=ranker, k=5)
    scores = [s for _, s in best]
    assert len(best) == 5 and scores == sorted(scores, reverse=True) and np.isfinite(scores).all()
    assert {pid for pid, _ in best} <= set(cands.ids.tolist())
    info = version()
    assert info["kind"] in ("union+lightgbm", "union+logistic") and len(info["meta_sha256"]) == 64


def test_hybrid_reranks_by_default_and_rrf_stays_selectable(tiny: Tiny) -> None:
    index, gold, emb = tiny
    q = gold[5].question
    v = emb.embed([q])[0]
    d, lx = dense_hits(index, v, 40), lexical_hits(index, q, 40)
    best, _ = rerank(index, q, v, d, lx, ranker=default_ranker(), k=4)
    assert [h.passage.id for h in retrieve(index, q, v, k=4)] == [pid for pid, _ in best]
    rrf = retrieve(index, q, v, k=4, fusion="rrf")
    assert [(h.passage.id, h.score) for h in rrf] == [(pid, round(s, 6)) for pid, s in fuse([d, lx], k=4)]
    assert [h.rank for h in rrf] == [1, 2, 3, 4]
    # Dense and lexical modes are their own lists, whatever the fusion.
    for fusion in ("ranker", "rrf"):
        assert [h.passage.id for h in retrieve(index, q, v, k=4, mode="dense", fusion=fusion)] == d.ids[:4].tolist()
        assert [h.passage.id for h in retrieve(index, q, None, k=4, mode="lexical",
                                               fusion=fusion)] == lx.ids[:4].tolist()


def test_bad_fusion_is_refused(tiny: Tiny) -> None:
    index, _, emb = tiny
    with pytest.raises(ValueError, match="unknown fusion"):
        retrieve(index, "otter", emb.embed(["otter"])[0], fusion="magic")  # type: ignore[arg-type]
    with pytest.raises(QuestionError, match="unknown fusion"):
        Engine(index, emb, fusion="magic")  # type: ignore[arg-type]
    assert Engine(index, emb, fusion="rrf").ask("What does the otter eat?").passages


def test_unreadable_or_foreign_models_are_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    for text, message in (("{", "cannot read"), ('{"kind": "forest", "features": ["rrf"]}', "unknown ranker kind"),
                          ('{"kind": "logistic", "features": ["shoe_size"]}', "does not compute"),
                          ('{"kind": "lightgbm", "features": ["rrf"], "trees": {}}', "malformed")):
        bad.write_text(text)
        with pytest.raises(RankerError, match=message):
            load_ranker(bad)
    with pytest.raises(RankerError, match="cannot read"):
        load_ranker(tmp_path / "missing.json")


def test_answering_never_imports_lightgbm() -> None:
    """The committed model is scored with numpy: a question in a fresh process loads neither LightGBM nor the
    scikit-learn and pandas it would pull in."""
    code = ("import sys, json; from rag.rank.model import default_ranker; r = default_ranker(); "
            "from rag.rank.features import FEATURES, FeatureMatrix; import numpy as np; "
            "r.score(FeatureMatrix(FEATURES, np.arange(3), np.zeros((3, len(FEATURES))))); "
            "import rag.engine; print(json.dumps(sorted(m for m in ('lightgbm', 'sklearn', 'pandas', 'scipy') "
            "if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert json.loads(out.stdout) == []


def test_rag_eval_fusion_flag_and_ranker_version(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    """`rag eval --fusion rrf|ranker` picks the fusion; report.json says which, and which model reranked."""
    from eval import harness
    from eval.options import parser, settings_from_args

    gold = ROOT / "eval" / "gold" / "seed.jsonl"
    args = ["--corpus", str(ROOT / "seeds"), "--gold", str(gold), "--limit", "3"]
    assert settings_from_args(parser().parse_args(args)).fusion == "ranker"
    reports = {}
    for fusion in ("ranker", "rrf"):
        settings = settings_from_args(parser().parse_args([*args, "--fusion", fusion, "--cache-dir",
                                                           str(tmp_path / "cache")]))
        assert harness.default_out(settings).name.startswith("seed-hybrid-rrf-" if fusion == "rrf" else "seed-hybrid-k")
        settings = replace(settings, out=tmp_path / fusion)
        reports[fusion] = harness.run(settings, embedder=fake_embedder, echo=lambda _: None)["settings"]
    assert reports["rrf"]["fusion"] == "rrf" and reports["rrf"]["ranker"] is None
    assert reports["ranker"]["fusion"] == "ranker" and reports["ranker"]["ranker"] == version()
    with pytest.raises(SystemExit):
        parser().parse_args([*args, "--fusion", "magic"])
