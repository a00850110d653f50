"""The reader (rag.span.reader): adapters trained through eval.train_reader's own code in seconds, merged and run
with numpy exactly as torch runs them, its spans, its refusals; and the committed reader on real sentences."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from eval.train_reader import SETTINGS, Example, save, train
from rag.extractive import READ_GAP, Candidate, SentenceFeatures, log_odds, reread
from rag.records import Document, Passage, ScoredPassage
from rag.span.model import phrase_kind, short_answer, short_answers
from rag.span.reader import Reader, ReaderError, base_folder, load_reader

QUICK = {**SETTINGS, "batch": 4, "warmup_steps": 1, "lr": 5e-3}
FACTS = [("Paris", "France"), ("Rome", "Italy"), ("Madrid", "Spain"), ("Berlin", "Germany"), ("Lisbon", "Portugal"),
         ("Vienna", "Austria"), ("Athens", "Greece"), ("Dublin", "Ireland")]


def _examples() -> list[Example]:
    out = []
    for city, country in FACTS:
        sentence = f"Officials said on Monday that the capital of {country} is {city}, a city of museums."
        at = sentence.index(city)
        out.append(Example("toy", 1, f"What is the capital of {country}?", sentence, (at, at + len(city)),
                           (city,)))
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    arrays, _ = train(_examples(), 3.0, settings=QUICK)
    path = tmp_path_factory.mktemp("reader") / "reader.npz"
    save(path, arrays, 0.0, settings=QUICK)
    return path


def test_numpy_reads_the_merged_adapters_exactly_as_torch_runs_them(trained: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    reader = Reader.load(trained)
    raw = dict(np.load(trained))
    scale = json.loads(bytes(raw.pop("meta")).decode())["scale"]
    model = AutoModel.from_pretrained(str(base_folder()))
    state = model.state_dict()
    for key in [k for k in raw if k.endswith(".lora_A")]:
        name = key[: -len(".lora_A")]
        a, b = (torch.from_numpy(raw[name + s].astype(np.float32)) for s in (".lora_A", ".lora_B"))
        state[name + ".weight"] = state[name + ".weight"] + b @ a * scale
    model.load_state_dict(state)
    question, sentence = "What is the capital of Chile?", "The capital of Chile is Santiago, officials said."
    enc = AutoTokenizer.from_pretrained(str(base_folder()))(question, sentence, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state[0].numpy()
    expected = hidden @ raw["head.weight"].T + raw["head.bias"]
    ids = enc["input_ids"].numpy()
    ours = reader.encoder.hidden(ids, enc["token_type_ids"].numpy(), np.ones(ids.shape, np.float32))[0]
    np.testing.assert_allclose(ours, hidden, atol=1e-4)  # the forward pass itself
    # the logits sum 384 such differences through the head: a little wider
    start, end, offsets = reader.logits(question, sentence)
    np.testing.assert_allclose(start, expected[:, 0], atol=2e-4)
    np.testing.assert_allclose(end, expected[:, 1], atol=2e-4)
    assert [sentence[a:b] for a, b in offsets if a >= 0][:5] == ["The", "capital", "of", "Chile", "is"]


def test_spans_are_exact_offsets_best_first_and_never_overlap(trained: Path) -> None:
    reader = Reader.load(trained)
    sentence = "Officials said on Monday that the capital of Norway is Oslo, a city of museums."
    spans = reader.spans("What is the capital of Norway?", sentence, limit=4)
    assert 1 <= len(spans) <= 4
    assert [s.score for s in spans] == sorted((s.score for s in spans), reverse=True)
    for s in spans:
        assert sentence[s.start:s.end] == s.text and s.text == s.text.strip(" ,.")
    for i, a in enumerate(spans):
        assert all(a.end <= b.start or b.end <= a.start for b in spans[i + 1:])


def test_a_missing_damaged_or_foreign_reader_is_refused(tmp_path: Path, trained: Path) -> None:
    with pytest.raises(ReaderError, match="cannot read"):
        Reader.load(tmp_path / "absent.npz")
    (tmp_path / "bad.npz").write_bytes(b"not an archive")
    with pytest.raises(ReaderError, match="cannot read"):
        Reader.load(tmp_path / "bad.npz")
    raw = dict(np.load(trained))
    meta = json.loads(bytes(raw.pop("meta")).decode()) | {"base_sha256": "0" * 64}
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **raw)
    with pytest.raises(ReaderError, match="another base model"):
        Reader.load(foreign)


@pytest.mark.parametrize(("text", "kind"), [("Yasar Guler", "name"), ("12 August 2025", "date"),
                                            ("$5 million", "number"), ("moon rocks", "words")])
def test_a_span_is_told_its_kind(text: str, kind: str) -> None:
    assert phrase_kind(text) == kind


@pytest.mark.parametrize(("question", "sentence", "expected"), [
    ("Who is Turkey's defense minister?",
     "Turkish Defense Minister Yasar Guler said the talks would continue next week.", "Yasar Guler"),
    ("How many people died in the flood?",
     "The flood killed 31 people and left thousands homeless, officials said on Tuesday.", "31"),
    ("When did the agreement take effect?",
     "The agreement, signed in Ankara, took effect on August 13, 2025, after months of talks.", "August 13, 2025"),
    ("Which city hosted the summit?",
     "The summit was hosted by Geneva, where delegates from 40 countries met.", "Geneva"),
])
def test_the_committed_reader_marks_the_answer(question: str, sentence: str, expected: str) -> None:
    found = short_answer(question, sentence)
    assert found is not None and found.text == expected
    assert sentence[found.start:found.end] == found.text


def test_the_committed_reader_declines_a_sentence_that_does_not_answer() -> None:
    sentence = "The weather in the capital was mild for the season, with light winds from the west."
    assert short_answer("Who won the 2015 Super Bowl?", sentence) is None
    assert short_answers("Who won the 2015 Super Bowl?", sentence, threshold=False)  # below the threshold


def test_the_committed_reader_records_what_it_saw_and_its_held_out_figures(project_root: Path) -> None:
    meta = json.loads((project_root / "rag" / "span" / "reader.meta.json").read_text())
    assert set(meta["data"]) == {"squad-dev", "news-rtqa", "news-archive"}
    for name, figures in meta["data"].items():
        assert len(figures["files_sha256"]["gold.jsonl"]) == 64 and figures["held_out"] > 0
        held = meta["held_out"][name]
        assert held["reader_f1"] > held["span_ranker_f1"]  # why it replaced the span ranker
    assert (project_root / "rag" / "span" / "reader.npz").stat().st_size < 2_000_000
    assert load_reader().threshold == meta["held_out"]["threshold"]


def _candidate(doc: Document, probability: float) -> Candidate:
    passage = Passage(id=0, doc_id=doc.id, start=0, end=len(doc.text), text=doc.text,
                      sentences=((0, len(doc.text)),))
    sp = ScoredPassage(passage=passage, title=doc.title, score=1.0, rank=1)
    return Candidate(doc.id, 0, len(doc.text), sp, SentenceFeatures(*([0.0] * 12)), probability)


class _Docs:
    def __init__(self, *docs: Document) -> None:
        self.documents = {d.id: d for d in docs}


def test_the_reader_puts_the_sentence_that_answers_first_of_two_nearly_as_likely() -> None:
    question = "How many people died in the Port Alden earthquake?"
    talk = Document(id="a", title="t", text="The Port Alden earthquake was the talk of the town on Saturday, "
                    "people said, as the earthquake shook houses.")
    toll = Document(id="b", title="t", text="The earthquake in Port Alden killed 31 people, officials said.")
    index = _Docs(talk, toll)
    near = [_candidate(talk, 0.62), _candidate(toll, 0.55)]
    assert [c.doc_id for c in reread(near, question, index=index)] == ["b", "a"]  # type: ignore[arg-type]
    far = [_candidate(talk, 0.97), _candidate(toll, 0.30)]  # log-odds 2.6 apart: beyond READ_GAP, not read
    assert log_odds(far[0]) - log_odds(far[1]) > READ_GAP
    assert [c.doc_id for c in reread(far, question, index=index)] == ["a", "b"]  # type: ignore[arg-type]
    why = "Why did the earthquake strike Port Alden?"  # no short answer to read: the model's order stands
    assert [c.doc_id for c in reread(near, why, index=index)] == ["a", "b"]  # type: ignore[arg-type]


def test_a_batch_of_sentences_reads_as_each_alone(trained: Path) -> None:
    question = "What is the capital of Norway?"
    sentences = ["The capital of Norway is Oslo.", "Oslo, the capital of Norway, lies at the head of a long fjord."]
    alone = [Reader.load(trained).logits(question, s) for s in sentences]
    batched = Reader.load(trained)
    batched.prefetch(question, sentences)
    for s, (start, end, offsets) in zip(sentences, alone, strict=True):
        b_start, b_end, b_offsets = batched.logits(question, s)
        np.testing.assert_allclose(b_start, start, atol=1e-4)
        np.testing.assert_allclose(b_end, end, atol=1e-4)
        assert b_offsets == offsets


def test_an_archive_question_trains_on_the_sentence_that_writes_its_answer_beside_its_words() -> None:
    from eval.gold import Evidence, GoldQuestion
    from eval.train_reader import answer_sentence

    text = ("Box office totals reached $11.6 billion. The studio said the film is the 6th in the series. "
            "The sixth film in the Jurassic franchise opened this week, its 6 predecessors having grossed more.")
    docs = {"a": Document("a", "t", text)}
    q = GoldQuestion("q", "Which film in the Jurassic franchise opened this week?", ("6",),
                     (Evidence("a", 0, len(text), whole_doc=True),), 1)
    ev, start, end = answer_sentence(q, docs, {}) or (None, 0, 0)
    # "6" inside "$11.6" does not count; of the two sentences that write it, the one sharing the question's words
    assert text[start:end].startswith("The sixth film") and ev is not None and text[ev.start:ev.end] == "6"
    assert start <= ev.start < ev.end <= end and not ev.whole_doc
    assert answer_sentence(GoldQuestion("q", "Who directed it?", ("6",), q.evidence, 1), docs, {}) is None
