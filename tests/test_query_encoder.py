"""The question encoder's adapters (rag.embed.query): trained through eval/train_query.py's own code on a few
questions in tmp_path, read by numpy exactly as torch runs them, refused over another model, and the committed
ones used for questions (never for passages) by the default embedder, through the engine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from eval.train_query import SETTINGS, Example, ranks, save, train
from rag.embed.adapters import AdapterError
from rag.embed.model import SentenceTransformerEmbedder, embed_queries
from rag.embed.query import META_FILE, WEIGHTS_FILE, QueryEncoder, version
from rag.span.reader import base_folder

QUICK = {**SETTINGS, "batch": 4, "warmup_steps": 1, "lr": 5e-3, "hard_negatives": 2}
SENTENCES = [
    "The capital of Chile is Santiago, officials said.",
    "Oslo is the capital of Norway and its largest city.",
    "The flood killed 31 people and left thousands homeless.",
    "Turkish Defense Minister Yasar Guler met his Syrian counterpart in Ankara.",
    "The central bank raised its main interest rate to 5.25 percent.",
    "The summit was hosted by Geneva, where delegates from 40 countries met.",
]
QUESTIONS = ["What is the capital of Chile?", "Which city is Norway's capital?", "How many died in the flood?",
             "Who is Turkey's defense minister?", "What rate did the bank set?", "Which city hosted the summit?"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = SentenceTransformerEmbedder(query_adapter=False)
    vectors = {"toy": base.embed(SENTENCES)}
    data = [Example("toy", 1, q, (i,), tuple(j for j in range(len(SENTENCES)) if j != i))
            for i, q in enumerate(QUESTIONS)]
    arrays, _ = train(data, vectors, 2.0, settings=QUICK)
    path = tmp_path_factory.mktemp("query") / "query.npz"
    save(path, arrays, settings=QUICK)
    return path


def test_numpy_runs_the_merged_adapters_exactly_as_torch_does(trained: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    raw = dict(np.load(trained))
    scale = json.loads(bytes(raw.pop("meta")).decode())["scale"]
    assert raw, "training wrote no adapters"
    model = AutoModel.from_pretrained(str(base_folder()))
    state = model.state_dict()
    for key in [k for k in raw if k.endswith(".lora_A")]:
        name = key[: -len(".lora_A")]
        a, b = (torch.from_numpy(raw[name + s].astype(np.float32)) for s in (".lora_A", ".lora_B"))
        assert b.abs().max() > 0, f"{name}: the adapter did not train"
        state[name + ".weight"] = state[name + ".weight"] + b @ a * scale
    model.load_state_dict(state)
    enc = AutoTokenizer.from_pretrained(str(base_folder()))(QUESTIONS, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    expected = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    ours = QueryEncoder.load(base_folder(), trained).encode(QUESTIONS)
    np.testing.assert_allclose(ours, expected, atol=1e-4)
    base = SentenceTransformerEmbedder(query_adapter=False).embed(QUESTIONS)
    assert np.abs(ours - base).max() > 1e-3  # the adapters changed the questions' vectors


def test_many_questions_are_batched_as_each_alone(trained: Path) -> None:
    encoder = QueryEncoder.load(base_folder(), trained)
    questions = [f"{q} (variant {i})" for i in range(8) for q in QUESTIONS]  # more than one batch of 32
    together = encoder.encode(questions)
    alone = np.stack([encoder.encode([q])[0] for q in questions])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_damaged_or_foreign_adapters_are_refused(trained: Path, tmp_path: Path) -> None:
    (tmp_path / "bad.npz").write_bytes(b"not an npz")
    with pytest.raises(AdapterError, match="cannot read"):
        QueryEncoder.load(base_folder(), tmp_path / "bad.npz")
    with pytest.raises(AdapterError, match="retrain it"):  # a damaged file is said, never silently skipped
        QueryEncoder.fits(base_folder(), tmp_path / "bad.npz")
    raw = dict(np.load(trained))
    meta = json.loads(bytes(raw.pop("meta")).decode()) | {"base_sha256": "0" * 64}
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **raw)
    with pytest.raises(AdapterError, match="another base model"):
        QueryEncoder.load(base_folder(), foreign)
    # another model keeps its own question vectors: the adapters are not for it
    assert QueryEncoder.fits(base_folder(), trained) and not QueryEncoder.fits(base_folder(), foreign)
    assert not QueryEncoder.fits(base_folder(), tmp_path / "missing.npz")
    assert not QueryEncoder.fits(tmp_path, trained)  # a folder without safetensors weights: not their model


def test_the_held_out_ranks_count_the_best_evidence_sentence(trained: Path) -> None:
    base = SentenceTransformerEmbedder(query_adapter=False)
    vectors = base.embed(SENTENCES)
    test = [Example("toy", 0, q, (i,), ()) for i, q in enumerate(QUESTIONS)]
    figures = ranks(QueryEncoder(base.lite), test, vectors)
    assert figures["questions"] == len(QUESTIONS) and figures["hit@1"] >= 5 / 6  # these pairs are easy
    assert figures["hit@1"] <= figures["hit@5"] <= figures["hit@20"] == 1.0


def test_the_committed_adapters_embed_questions_only_and_by_default() -> None:
    adapted = SentenceTransformerEmbedder()  # the default: the reranker and answerability are fitted on these
    plain = SentenceTransformerEmbedder(query_adapter=False)
    question = ["Who is Syria's defense minister?"]
    assert adapted.queries is not None and plain.queries is None
    np.testing.assert_allclose(plain.embed_queries(question), plain.embed(question), atol=1e-6)
    assert np.abs(adapted.embed_queries(question) - adapted.embed(question)).max() > 1e-3
    np.testing.assert_allclose(adapted.embed(question), plain.embed(question), atol=1e-6)  # passages: the base
    assert version()["file"] == WEIGHTS_FILE.name and len(version()["sha256"]) == 16


def test_the_committed_adapters_record_what_they_saw_and_their_held_out_figures() -> None:
    meta = json.loads(META_FILE.read_text(encoding="utf-8"))
    assert meta["settings"]["held_out_fold"] == 0 and meta["settings"]["rank"] == 8
    for name in ("squad-dev", "news-rtqa"):
        assert len(meta["data"][name]["files_sha256"]["gold.jsonl"]) == 64 and meta["data"][name]["held_out"] > 300
        held = meta["held_out"][name]
        assert held["adapted"]["hit@1"] > held["base"]["hit@1"] and held["adapted"]["mrr@10"] > held["base"]["mrr@10"]
    assert QueryEncoder.fits(base_folder())


def test_the_engine_asks_with_the_adapted_question_vector(tmp_path: Path, seed_file: Path) -> None:
    import rag
    from rag.engine import Engine

    rag.build_index(tmp_path / "idx", [seed_file], embedder=SentenceTransformerEmbedder())
    engine = Engine.open_with(tmp_path / "idx", SentenceTransformerEmbedder(query_adapter=True))
    answer = engine.ask("When did Turkey and Syria sign the memorandum of understanding?")
    assert answer.short_answer is not None and "13" in answer.short_answer
    assert any("Aug. 13" in c.quote for c in answer.citations)
    assert engine.ask("Who won the 2022 FIFA World Cup?").citations == ()  # still declined


def test_an_embedder_without_a_question_path_embeds_questions_as_texts() -> None:
    class Plain:
        def embed(self, texts: list[str]) -> np.ndarray:
            return np.ones((len(texts), 3), dtype=np.float32)

    assert embed_queries(Plain(), ["a", "b"]).shape == (2, 3)  # type: ignore[arg-type]
