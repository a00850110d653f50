"""Like/dislike on answers, appended to a JSONL log inside the index folder for later review."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from rag.records import Answer

FEEDBACK_FILE = "feedback.jsonl"


@dataclass(frozen=True, slots=True)
class Feedback:
    """One rating of one answer, with what is needed to review it without the index."""

    rating: str  # "like", "dislike", or another feedback option's text
    question: str
    query: str
    answer: str
    citations: tuple[dict[str, Any], ...]
    abstained: bool
    k: int
    mode: str
    time: str

    @classmethod
    def of(cls, answer: Answer, *, k: int, mode: str, rating: str = "") -> Feedback:
        return cls(rating=rating, question=answer.question, query=answer.query, answer=answer.text,
                   citations=tuple(c.to_dict() for c in answer.citations), abstained=answer.abstained,
                   k=k, mode=mode, time=time.strftime("%Y-%m-%dT%H:%M:%S%z"))


def rating_of(liked: bool | str) -> str:
    """Gradio's LikeData.liked (True, False, or an option's text) as a rating word."""
    if liked is True:
        return "like"
    if liked is False:
        return "dislike"
    return str(liked).strip().lower() or "like"


def rated(feedback: Feedback, liked: bool | str) -> Feedback:
    """`feedback` with the rating given now."""
    return replace(feedback, rating=rating_of(liked), time=time.strftime("%Y-%m-%dT%H:%M:%S%z"))


class FeedbackLog:
    """Appends `Feedback` records as JSON lines to `INDEX_DIR/feedback.jsonl`; safe across threads."""

    def __init__(self, index_dir: str | Path) -> None:
        self.path = Path(index_dir) / FEEDBACK_FILE
        self._lock = threading.Lock()

    def add(self, feedback: Feedback) -> None:
        line = (json.dumps(asdict(feedback), ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # One write() on an O_APPEND descriptor: lines from two processes never interleave.
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)

    def read(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]
