"""Follow-up questions are rewritten against the conversation; self-contained ones are left alone."""

from __future__ import annotations

import pytest

from rag.followup import is_follow_up, last_user_question, rewrite

SYRIA = [{"role": "user", "content": "Who is Syria's defense minister?"},
         {"role": "assistant", "content": "Syria’s Defense Minister Murhaf Abu Qasra [1]"}]


@pytest.mark.parametrize(
    ("question", "history", "expected"),
    [
        ("And Turkey's?", SYRIA, "Who is Turkey's defense minister?"),
        ("What about Iran?", SYRIA, "Who is Iran's defense minister?"),
        ("Who leads it?", [{"role": "user", "content": "What is HTS?"}], "Who leads HTS?"),
        ("And who leads it?", [{"role": "user", "content": "What is HTS?"}], "And who leads HTS?"),
        ("When did Turkey and Syria sign the MoU?", SYRIA, "When did Turkey and Syria sign the MoU?"),
        ("And Turkey's?", None, "And Turkey's?"),
        ("And Turkey's?", [{"role": "assistant", "content": "Hello"}], "And Turkey's?"),
    ],
)
def test_rewrite(question: str, history: list[dict[str, str]] | None, expected: str) -> None:
    assert rewrite(question, history) == expected


def test_last_user_question_skips_assistant_and_empty_messages() -> None:
    history = [{"role": "user", "content": "first?"}, {"role": "user", "content": "  "},
               {"role": "assistant", "content": "answer"}]
    assert last_user_question(history) == "first?"
    assert last_user_question([]) is None


def test_self_contained_questions_are_not_follow_ups() -> None:
    assert not is_follow_up("Who signed the memorandum of understanding with Syria?")
    assert is_follow_up("And Russia?")


def test_an_earlier_question_past_the_limit_is_refused_at_once() -> None:
    import time

    import pytest

    from rag.errors import QuestionError
    from rag.question import check_history

    history = [{"role": "user", "content": "A " * 500_000}]  # capitalised runs: quadratic for the entity scan
    t0 = time.perf_counter()
    with pytest.raises(QuestionError, match=r"history message 1 \(an earlier question\) is 999,999 characters"):
        check_history(history)
    assert time.perf_counter() - t0 < 0.5
    check_history([{"role": "assistant", "content": "A " * 500_000}])  # a long answer is fine


def test_a_leading_and_before_a_complete_question_keeps_it_as_it_is() -> None:
    history = [{"role": "user", "content": "When did Turkey and Syria sign the memorandum of understanding?"}]
    assert rewrite("And who is Syria's defense minister?", history) == "And who is Syria's defense minister?"
    assert rewrite("And when did they sign it?", history) != "And when did they sign it?"  # a pronoun: rewritten
    assert rewrite("And Turkey's?", [{"role": "user", "content": "Who is Syria's defense minister?"}]) == (
        "Who is Turkey's defense minister?")
