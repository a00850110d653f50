"""Gold files for the harness: every malformed line is an error naming the file and the line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from eval.gold import load_gold
from rag.errors import GoldFormatError
from rag.records import Document

DOC = Document(id="d1", title="Storm", text="A storm hit the coast on Monday. Three people were hurt.")
GOOD = {"id": "q1", "question": "When did the storm hit?", "answers": ["Monday"],
        "evidence": ["A storm hit the coast on Monday."]}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps(["a", "list"]), "a line must be a JSON object"),
        (json.dumps({"id": "q2", "question": "?"}), "missing key(s) answers, evidence"),
        (json.dumps({**GOOD, "id": "q1"}), "duplicate id 'q1'"),
        (json.dumps({**GOOD, "id": "q2", "answers": "Monday"}), "'answers' must be a list of strings"),
        (json.dumps({**GOOD, "id": "q2", "evidence": "A storm"}), "'evidence' must be a list"),
        (json.dumps({**GOOD, "id": "q2", "question": "  "}), "'question' must be a non-empty string"),
        (json.dumps({**GOOD, "id": "q2", "evidence": ["Not in the corpus."]}), "evidence quote not found"),
        (json.dumps({**GOOD, "id": "q2", "evidence": [{"doc": "nope"}]}), "unknown document 'nope'"),
        (json.dumps({**GOOD, "id": "q2", "evidence": [{"quote": "A storm"}]}), "an object with a 'doc' key"),
        (json.dumps({**GOOD, "id": "q2", "evidence": [{"doc": "d1", "quote": "Tuesday"}]}),
         "quote not found in document 'd1'"),
        (json.dumps({**GOOD, "id": "q2", "evidence": [{"doc": "d1", "quote": "A storm", "start": 2, "end": 9}]}),
         "d1[2:9] is 'storm h', not the quote 'A storm'"),
        (json.dumps({**GOOD, "id": "q2", "evidence": [{"doc": "d1", "quote": "A storm", "start": "x"}]}),
         "needs both integer 'start' and 'end'"),
        (json.dumps({**GOOD, "id": "q2", "evidence": [{"doc": "d1", "quote": ""}]}), "must be a non-empty string"),
    ],
)
def test_a_bad_line_is_named_by_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "gold.jsonl"
    path.write_text(json.dumps(GOOD) + "\n\n" + line + "\n")  # the blank line 2 is skipped, not miscounted
    with pytest.raises(GoldFormatError, match=rf"^{re.escape(str(path))}:3: .*{re.escape(message)}"):
        load_gold(path, {DOC.id: DOC})


def test_a_good_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "gold.jsonl"
    path.write_text(json.dumps(GOOD) + "\n")
    [q] = load_gold(path, {DOC.id: DOC})
    assert (q.id, q.line, q.evidence[0].start, q.evidence[0].end) == ("q1", 1, 0, 32)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(GoldFormatError, match=r"cannot read gold file .*missing\.jsonl"):
        load_gold(tmp_path / "missing.jsonl", {})


def test_a_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "gold.jsonl"
    path.write_bytes(json.dumps(GOOD).encode() + b"\n" + b'{"id": "caf\xe9"}\n')
    with pytest.raises(GoldFormatError, match=r"gold\.jsonl"):
        load_gold(path, {DOC.id: DOC})
