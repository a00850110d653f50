"""The generator protocol: what the generative answerer needs of a text generator, and prompt shapes.

A generator only writes text. It never decides what is cited: `rag.generative.check` checks every sentence it
writes against the retrieved passages in deterministic code.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol, runtime_checkable

Prompt = str | Sequence[Mapping[str, str]]  # plain text, or chat messages [{"role": ..., "content": ...}, ...]


@runtime_checkable
class Generator(Protocol):
    """What the generative answerer needs of a text generator."""

    name: str

    def generate(self, prompt: Prompt, *, max_new_tokens: int | None = None) -> str:
        """The whole reply to `prompt`, greedy (the same prompt gives the same reply)."""
        ...

    def stream(self, prompt: Prompt, *, max_new_tokens: int | None = None) -> Iterator[str]:
        """The reply in pieces as they are generated; the pieces joined equal `generate(prompt)`."""
        ...

    def prompt_tokens(self, prompt: Prompt) -> int:
        """How many tokens `prompt` takes once rendered for the model."""
        ...

    @property
    def max_prompt_tokens(self) -> int | None:
        """The longest prompt that leaves room for the reply, or None when the model has no fixed limit."""
        ...


def as_messages(prompt: Prompt) -> list[dict[str, str]]:
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [{"role": str(m["role"]), "content": str(m["content"])} for m in prompt]


def plain_prompt(messages: Sequence[Mapping[str, str]]) -> str:
    """A prompt for a model without a chat template: labelled turns, ending where the answer starts."""
    label = {"system": "Instructions", "user": "User", "assistant": "Assistant"}
    turns = [f"{label.get(m['role'], m['role'].title())}: {m['content']}" for m in messages]
    return "\n\n".join([*turns, "Assistant:"])


def fold_system(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """Messages without a system turn, its text put before the first user turn (for templates refusing one)."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if system and rest and rest[0]["role"] == "user":
        rest[0]["content"] = f"{system}\n\n{rest[0]['content']}"
    elif system:
        rest.insert(0, {"role": "user", "content": system})
    return rest
