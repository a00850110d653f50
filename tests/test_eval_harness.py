"""The harness end to end on a tiny corpus and gold file, every figure checked against values computed by hand.

A scripted engine gives, for each gold question, an answer designed so that each metric comes out at a
different, known value; a fake clock makes the latencies exact. A metric computed wrongly fails here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval import harness
from eval.harness import EvalSettings
from eval.metrics import METRIC_KEYS
from rag.errors import CitationError, GoldFormatError, RagError
from rag.records import Answer, Citation, Passage, ScoredPassage

D1 = "Alpha Corp was founded in 1999 by Jane Roe. It is based in Oslo."
D2 = "The river Lune floods every spring. Farmers plant rice in May."
D3 = "Beta Ltd makes blue bicycles."
D4 = " ".join(f"Filler sentence number {i}." for i in range(10))
TEXTS = {"d1": D1, "d2": D2, "d3": D3, "d4": D4}


def span(doc: str, quote: str) -> tuple[int, int]:
    start = TEXTS[doc].index(quote)
    return start, start + len(quote)


GOLD = [
    {"id": "q1", "question": "Who founded Alpha Corp?", "answers": ["Jane Roe"],
     "evidence": ["founded in 1999 by Jane Roe"]},
    {"id": "q2", "question": "Where is Alpha Corp based?", "answers": ["Oslo"],
     "evidence": [{"doc": "d1", "quote": "It is based in Oslo."}]},
    {"id": "q3", "question": "When does the Lune flood?", "answers": ["every spring"],
     "evidence": [{"doc": "d2", "quote": "floods every spring", "start": span("d2", "floods every spring")[0],
                   "end": span("d2", "floods every spring")[1]},
                  {"doc": "d2", "quote": "Farmers plant"}]},
    {"id": "q4", "question": "What does Beta Ltd make?", "answers": ["blue bicycles"], "evidence": [{"doc": "d3"}]},
    {"id": "q5", "question": "What do farmers plant in May?", "answers": ["rice"],
     "evidence": ["Farmers plant rice in May."]},
    {"id": "u1", "question": "Who owns Gamma Inc?", "answers": [], "evidence": []},
    {"id": "u2", "question": "How long is the Lune?", "answers": [], "evidence": []},
    {"id": "u3", "question": "What breaks the engine?", "answers": [], "evidence": []},
]


def write_corpus(folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    corpus = folder / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": d, "title": d.upper(), "text": t}) + "\n" for d, t in TEXTS.items()))
    gold = folder / "gold.jsonl"
    gold.write_text("".join(json.dumps(row) + "\n" for row in GOLD))
    return corpus, gold


def passage(doc: str, quote: str, pid: int) -> Passage:
    s, e = span(doc, quote)
    return Passage(pid, doc, s, e, TEXTS[doc][s:e], ((s, e),))


P1 = passage("d1", "Alpha Corp was founded in 1999 by Jane Roe.", 1)
P2 = passage("d1", "It is based in Oslo.", 2)
P3 = passage("d2", "The river Lune floods every spring.", 3)
P5 = passage("d3", D3, 5)
FILLER = [passage("d4", f"Filler sentence number {i}.", 10 + i) for i in range(10)]


def ranked(*ps: Passage) -> tuple[ScoredPassage, ...]:
    return tuple(ScoredPassage(p, p.doc_id.upper(), 1.0 / r, r) for r, p in enumerate(ps, 1))


def cite(marker: int, doc: str, quote: str, *, text: str | None = None) -> Citation:
    s, e = span(doc, quote)
    return Citation(marker, doc, doc.upper(), s, e, text if text is not None else quote)


def answer(question: str, passages: tuple[ScoredPassage, ...], *cites: Citation, text: str = "") -> Answer:
    text = text or " ".join(f"{c.quote} [{c.marker}]" for c in cites) or "The articles do not say."
    return Answer(text=text, citations=cites, passages=passages, abstained=not cites, query=question,
                  question=question)


# question -> (answer, milliseconds the scripted ask() takes)
SCRIPT = {
    # first passage on evidence; one valid citation on evidence; the answer is contained
    "Who founded Alpha Corp?": (answer("q1", ranked(P1, *FILLER[:9]),
                                       cite(1, "d1", "Alpha Corp was founded in 1999 by Jane Roe.")), 10),
    # evidence at rank 3; declined: a false abstention (whose text naming the answer does not make it contained)
    "Where is Alpha Corp based?": (answer("q2", ranked(FILLER[0], FILLER[1], P2, *FILLER[2:9]),
                                          text="The articles do not say; the closest passage mentions Oslo."), 20),
    # evidence at rank 7 (hit@10 only), one of two evidence items retrieved; its citation's quote is wrong
    "When does the Lune flood?": (answer("q3", ranked(*FILLER[:6], P3, *FILLER[6:9]),
                                         cite(1, "d2", "The river Lune floods every spring.",
                                              text="The river Lune floods every spring!")), 30),
    # whole-document evidence; two citations, only the second holds the answer
    "What does Beta Ltd make?": (answer("q4", ranked(P5), cite(1, "d3", "Beta Ltd makes"),
                                        cite(2, "d3", "blue bicycles.")), 40),
    # nothing on evidence retrieved; answered from the wrong sentence
    "What do farmers plant in May?": (answer("q5", ranked(*FILLER), cite(1, "d1", "It is based in Oslo.")), 50),
    "Who owns Gamma Inc?": (answer("u1", ranked(FILLER[0])), 60),  # correctly declined
    "How long is the Lune?": (answer("u2", ranked(P3), cite(1, "d2", "The river Lune floods every spring.")),
                              100),  # answered although the corpus does not say
}

HAND = {
    "hit@1": 2 / 5,  # q1, q4
    "hit@5": 3 / 5,  # + q2 (rank 3)
    "hit@10": 4 / 5,  # + q3 (rank 7)
    "mrr@10": (1 + 1 / 3 + 1 / 7 + 1 + 0) / 5,
    "evidence_recall@k": (1 + 1 + 0.5 + 1 + 0) / 5,
    "answer_containment": 3 / 5,  # q1, q3, q4
    "span_validity": 4 / 5,  # q3's quote is not the document text
    "citation_precision": 3 / 5,  # q1, q3, q4's second; not q4's first nor q5's
    "citation_recall": 3 / 5,  # q1, q3, q4
    "abstain_correct": 1 / 3,  # u1 of u1, u2, u3 (u3 failed)
    "abstain_false": 1 / 5,  # q2
    "latency_p50_ms": 40.0,  # of 10, 20, 30, 40, 50, 60, 100 (u3 raised: no latency)
    "latency_p95_ms": 60 + 0.7 * (100 - 60),  # rank 5.7 of 0..6, interpolated
    "build_s": 0.0,
}


class ScriptedEngine:
    def __init__(self) -> None:
        self.now = 0.0
        self.calls: list[tuple[str, int, str]] = []

    def clock(self) -> float:
        return self.now

    def ask(self, question: str, *, k: int = 8, mode: str = "hybrid") -> Answer:
        self.calls.append((question, k, mode))
        if question not in SCRIPT:
            raise CitationError("scripted failure")
        ans, ms = SCRIPT[question]
        self.now += ms / 1000
        return ans


@pytest.fixture
def scripted_run(tmp_path: Path) -> tuple[dict, Path, ScriptedEngine, list[str]]:
    corpus, gold = write_corpus(tmp_path / "bench")
    eng = ScriptedEngine()
    out = tmp_path / "out"
    said: list[str] = []
    report = harness.run(EvalSettings(corpus=corpus.parent, gold=gold, k=10, out=out), engine=eng,
                         clock=eng.clock, echo=said.append)
    return report, out, eng, said


def test_every_metric_matches_the_hand_computed_value(scripted_run) -> None:
    report, out, eng, _ = scripted_run
    assert list(report["metrics"]) == list(METRIC_KEYS)
    for key, value in HAND.items():
        assert report["metrics"][key] == pytest.approx(value, abs=1e-4), key
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk["metrics"] == report["metrics"]
    assert all(0 <= on_disk["metrics"][k] <= 1 for k in METRIC_KEYS[:11])
    assert {(q, k, m) for q, k, m in eng.calls} == {(g["question"], 10, "hybrid") for g in GOLD}


def test_extra_figures_and_problems_are_reported(scripted_run) -> None:
    report, _, _, said = scripted_run
    more = report["more"]
    assert (more["questions"], more["answerable"], more["unanswerable"], more["citations"]) == (8, 5, 3, 5)
    assert more["hit_curve"]["3"] == pytest.approx(3 / 5) and more["hit_curve"]["7"] == pytest.approx(4 / 5)
    assert more["invalid_span_questions"] == ["q3"]
    assert more["errors"] == [{"id": "u3", "error": "CitationError: scripted failure"}]
    assert more["short_answers"] == 0 and more["exact_match"] is None
    assert report["cost"]["latency_mean_ms"] == pytest.approx(310 / 7, abs=1e-3)
    assert report["gold"] == {"path": report["settings"]["gold"], "dataset": "bench", "questions_in_file": 8,
                              "questions_run": 8}
    table = "\n".join(said)
    assert "BUG: citations not equal to the document text in q3" in table
    assert "ERROR u3" in table and "hit@5" in table and "0.600" in table


def test_results_jsonl_holds_each_question(scripted_run) -> None:
    _, out, _, _ = scripted_run
    rows = {r["id"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    assert list(rows) == [g["id"] for g in GOLD]
    assert [rows[q]["first_hit"] for q in ("q1", "q2", "q3", "q4", "q5")] == [1, 3, 7, 1, None]
    assert rows["q3"]["evidence_recall"] == 0.5
    assert rows["q3"]["citations"][0]["valid"] is False and rows["q3"]["citations"][0]["on_evidence"] is True
    assert [c["on_evidence"] for c in rows["q4"]["citations"]] == [False, True]
    # each citation's role, date and other outlets are kept for error analysis
    assert {"role", "date", "also_in"} <= set(rows["q4"]["citations"][0]) and "also_in" in rows["q4"]["passages"][0]
    assert rows["q2"]["abstained"] and not rows["q2"]["contained"]
    assert rows["q2"]["passages"][2]["hit"] and rows["q2"]["passages"][2]["doc_id"] == "d1"
    assert rows["u3"]["error"] and rows["u3"]["latency_ms"] is None
    assert rows["q1"]["latency_ms"] == pytest.approx(10.0)


def test_markdown_report_and_plots_are_written(scripted_run) -> None:
    _, out, _, _ = scripted_run
    md = (out / "report.md").read_text()
    assert "| Retrieval (answerable) | `hit@1` | 0.400 |" in md
    assert "![Hit@n](hit_at_k.png)" in md and "![Latency](latency.png)" in md
    assert "### Wrongly declined (1)" in md and "`q2`" in md
    for png in ("hit_at_k.png", "latency.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_limit_and_seed_draw_a_fixed_sample(tmp_path: Path) -> None:
    corpus, gold = write_corpus(tmp_path / "bench")
    picks = []
    for _ in range(2):
        eng = ScriptedEngine()
        report = harness.run(EvalSettings(corpus=corpus, gold=gold, limit=4, seed=3, out=tmp_path / "o"),
                             engine=eng, clock=eng.clock, echo=lambda _: None)
        picks.append([q for q, _, _ in eng.calls])
        assert report["gold"]["questions_run"] == 4 and report["more"]["questions"] == 4
    assert picks[0] == picks[1] and len(set(picks[0])) == 4


def test_k_below_ten_leaves_hit_at_10_unmeasured(tmp_path: Path) -> None:
    corpus, gold = write_corpus(tmp_path / "bench")
    eng = ScriptedEngine()
    report = harness.run(EvalSettings(corpus=corpus, gold=gold, k=5, mode="lexical", out=tmp_path / "o"),
                         engine=eng, clock=eng.clock, echo=lambda _: None)
    assert report["metrics"]["hit@10"] is None and report["metrics"]["mrr@10"] is None
    assert report["metrics"]["hit@5"] == pytest.approx(3 / 5)
    # evidence recall reads only the top k: q2's evidence at rank 3 still counts, q3's at rank 7 does not
    assert report["metrics"]["evidence_recall@k"] == pytest.approx((1 + 1 + 0 + 1 + 0) / 5)
    assert {m for _, _, m in eng.calls} == {"lexical"}


def test_gold_line_that_cannot_be_resolved_is_an_error_naming_the_line(tmp_path: Path) -> None:
    corpus, gold = write_corpus(tmp_path / "bench")
    with gold.open("a") as fh:
        fh.write(json.dumps({"id": "bad", "question": "?", "answers": ["x"], "evidence": [{"doc": "nope"}]}) + "\n")
    with pytest.raises(GoldFormatError, match=r"gold\.jsonl:9: evidence names unknown document 'nope'"):
        harness.run(EvalSettings(corpus=corpus, gold=gold, out=tmp_path / "o"), engine=ScriptedEngine(),
                    echo=lambda _: None)


def test_answerer_and_generator_options_are_passed_only_where_the_engine_takes_them() -> None:
    class WithAnswerer:
        def ask(self, question: str, *, k: int = 8, mode: str = "hybrid", answerer: str = "extractive") -> Answer:
            raise AssertionError

    class WithGenerator:
        def ask(self, question: str, *, k: int = 8, mode: str = "hybrid", generator: str | None = None) -> Answer:
            raise AssertionError

    assert harness.ask_options(ScriptedEngine(), None) == {}
    assert harness.ask_options(ScriptedEngine(), "extractive") == {}  # the default needs no option
    assert harness.ask_options(WithAnswerer(), "generative") == {"answerer": "generative"}
    assert harness.ask_options(WithGenerator(), None, "/models/tiny") == {"generator": "/models/tiny"}
    with pytest.raises(RagError, match="takes no 'answerer' argument; only the default extractive"):
        harness.ask_options(ScriptedEngine(), "generative")
    with pytest.raises(RagError, match="use --generator MODEL"):
        harness.ask_options(WithGenerator(), "generative")
    with pytest.raises(RagError, match="takes no 'generator' argument"):
        harness.ask_options(ScriptedEngine(), None, "/models/tiny")
