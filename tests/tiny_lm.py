"""A tiny random-weight language model and its tokenizer, built offline in a folder for the generator tests.

The weights are random, so the text is gibberish, but loading, chat templating, generation and streaming go
through the same transformers code as a real checkpoint's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# A minimal chat template in the style of real ones: role headers, an end-of-turn token, a generation prompt.
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
# Like Gemma's: refuses a system turn.
NO_SYSTEM_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
SPECIALS = ["<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]


def build_tiny_model(
    folder: Path,
    *,
    texts: list[str],
    chat_template: str | None = CHAT_TEMPLATE,
    kind: str = "gpt2",
    positions: int = 8192,
    seed: int = 0,
    max_new_tokens: int | None = 24,
) -> Path:
    """Save a 2-layer random-weight model (`kind` "gpt2", "llama" or "t5") and a byte-level BPE tokenizer
    trained on `texts` into `folder`; return `folder`. `max_new_tokens` goes into its generation_config.json,
    as a checkpoint may ship it (short replies keep the tests fast)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|end|>", pad_token="<|end|>",
                                   bos_token="<|end|>", chat_template=chat_template)
    folder.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(folder)
    end = int(fast.convert_tokens_to_ids("<|end|>"))  # type: ignore[arg-type]
    model: Any
    torch.manual_seed(seed)
    if kind == "gpt2":
        from transformers import GPT2Config, GPT2LMHeadModel

        model = GPT2LMHeadModel(GPT2Config(vocab_size=len(fast), n_positions=positions, n_embd=32, n_layer=2,
                                           n_head=2, bos_token_id=end, eos_token_id=end, pad_token_id=end))
    elif kind == "llama":
        from transformers import LlamaConfig, LlamaForCausalLM

        model = LlamaForCausalLM(LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64,
                                             num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                                             max_position_embeddings=positions, bos_token_id=end,
                                             eos_token_id=end, pad_token_id=end))
    elif kind == "t5":
        from transformers import T5Config, T5ForConditionalGeneration

        config = T5Config(vocab_size=len(fast), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=2,
                          eos_token_id=end, pad_token_id=end)
        config.decoder_start_token_id = end
        model = T5ForConditionalGeneration(config)
    else:
        raise ValueError(f"unknown kind {kind!r}")
    if max_new_tokens is not None:
        model.generation_config.max_new_tokens = max_new_tokens
    model.save_pretrained(folder)
    return folder


class ScriptedGenerator:
    """A Generator whose reply is a function of the prompt's numbered passages: for checking what the checker
    makes of a given reply. `reply(passages)` gets {number: passage text} and returns the generated text."""

    name = "scripted"
    max_prompt_tokens: int | None = None

    def __init__(self, reply) -> None:
        self.reply = reply
        self.prompts: list[list[dict[str, str]]] = []

    @staticmethod
    def passages(prompt) -> dict[int, str]:
        import re

        content = prompt[-1]["content"]
        return {int(n): t for n, t in re.findall(r'<passage id="(\d+)">\n(.*?)\n</passage>', content, re.DOTALL)}

    def generate(self, prompt, *, max_new_tokens=None) -> str:
        self.prompts.append(list(prompt))
        return self.reply(self.passages(prompt))

    def stream(self, prompt, *, max_new_tokens=None):
        text = self.generate(prompt)
        for i in range(0, len(text), 7):
            yield text[i:i + 7]

    def prompt_tokens(self, prompt) -> int:
        return sum(len(m["content"].split()) for m in prompt)


def cite(passages: dict[int, str], needle: str) -> int:
    """The number of the first passage containing `needle`."""
    return next(n for n, text in sorted(passages.items()) if needle in text)
