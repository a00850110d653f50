"""Generate: a local transformers model behind the `Generator` protocol (`rag.generative.protocol`).

A generator only writes text. It never decides what is cited: `rag.generative.check` checks every sentence it writes
against the retrieved passages in deterministic code, so nothing a model says (or an article quoted to it
says) can change how an answer is checked. Heavy imports (torch, transformers) happen on first use.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

from rag.errors import GeneratorError, require
from rag.generative.protocol import (
    Generator,
    Prompt,
    as_messages,
    fold_system,
    plain_prompt,
)

DEFAULT_MAX_NEW_TOKENS = 320
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "float16", "bfloat16")


class TransformersGenerator:
    """A local (or hub) transformers model: causal LM or encoder-decoder, loaded on first use, then kept.

    `device="auto"` takes CUDA when present, else Apple's MPS, else the CPU; `dtype="auto"` takes bfloat16 on a
    GPU that has it (float16 otherwise) and float32 on the CPU, where half precision is slow or unsupported.
    Decoding is greedy: the same question over the same passages gets the same answer. Replies stop at
    `max_new_tokens` tokens (None: the checkpoint's generation_config.json `max_new_tokens` when it sets one,
    else 320). Generation calls are serialised: one model in memory serves every caller, one at a time.
    """

    def __init__(
        self,
        model: str,
        *,
        device: str = "auto",
        dtype: str = "auto",
        max_new_tokens: int | None = None,
    ) -> None:
        if not model or not str(model).strip():
            raise GeneratorError("no generator model given: pass a model folder or a model name")
        if device not in DEVICES and not device.startswith("cuda:"):
            raise GeneratorError(f"unknown device {device!r}: use one of {', '.join(DEVICES)} or cuda:N")
        if dtype not in DTYPES:
            raise GeneratorError(f"unknown dtype {dtype!r}: use one of {', '.join(DTYPES)}")
        if max_new_tokens is not None and max_new_tokens < 1:
            raise GeneratorError(f"max_new_tokens must be at least 1, not {max_new_tokens}")
        model = os.path.expanduser(str(model))
        self.source = os.path.abspath(model) if os.path.isdir(model) else model
        self.name = self.source
        self.max_new_tokens = max_new_tokens or DEFAULT_MAX_NEW_TOKENS
        self._max_new_given = max_new_tokens is not None
        self._device, self._dtype = device, dtype
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._tokenizer: Any = None
        self._model: Any = None
        self._context: int | None = None
        self._placed: tuple[str, str] = ("", "")  # (device, dtype) once loaded

    # -- loading -----------------------------------------------------------------------------------------
    def load(self) -> TransformersGenerator:
        """Load tokenizer and model now (otherwise the first call does); return self."""
        with self._load_lock:
            if self._model is None:
                self._load()
        return self

    def _load(self) -> None:
        torch: Any = require("torch")
        transformers: Any = require("transformers")
        if os.path.isfile(self.source):
            raise GeneratorError(f"{self.source} is a file: give the folder that holds the model's config.json")
        if not os.path.isdir(self.source) and (os.path.isabs(self.source) or self.source.startswith((".", "~"))):
            raise GeneratorError(f"no model folder at {self.source}: give the folder that holds the model's "
                                 "config.json, weights and tokenizer files (as saved by save_pretrained)")
        try:
            config = transformers.AutoConfig.from_pretrained(self.source)
            tokenizer = transformers.AutoTokenizer.from_pretrained(self.source)
            auto = (transformers.AutoModelForSeq2SeqLM if getattr(config, "is_encoder_decoder", False)
                    else transformers.AutoModelForCausalLM)
            device = self._pick_device(torch)
            dtype = self._pick_dtype(torch, device)
            model = auto.from_pretrained(self.source, dtype=dtype)
        except (OSError, ValueError, KeyError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(".")
            raise GeneratorError(
                f"cannot load the generator {self.source!r}: {first}. Give the folder of a model saved with "
                "save_pretrained (config.json, weights, tokenizer files), or a hub name where the hub is reachable"
            ) from exc
        model.to(device)
        model.eval()
        shipped = getattr(getattr(model, "generation_config", None), "max_new_tokens", None)
        if not self._max_new_given and isinstance(shipped, int) and shipped > 0:
            self.max_new_tokens = shipped
        self._placed = (device, str(dtype).removeprefix("torch."))
        limits = [getattr(config, a, None) for a in ("max_position_embeddings", "n_positions", "max_seq_len")]
        known = [int(n) for n in limits if isinstance(n, int) and n > 0]
        self._context = min(known) if known else None
        self._tokenizer, self._model = tokenizer, model

    def _pick_device(self, torch: Any) -> str:
        if self._device != "auto":
            if self._device.startswith("cuda") and not torch.cuda.is_available():
                raise GeneratorError(f"device {self._device!r} asked for, but torch sees no CUDA device")
            return self._device
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"

    def _pick_dtype(self, torch: Any, device: str) -> Any:
        if self._dtype != "auto":
            return getattr(torch, self._dtype)
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float16 if device == "mps" else torch.float32

    @property
    def device(self) -> str:
        """Where the model runs ("cuda", "cpu", ...); loads it."""
        return self.load()._placed[0]

    @property
    def dtype(self) -> str:
        """The model's weights' dtype ("bfloat16", "float32", ...); loads it."""
        return self.load()._placed[1]

    @property
    def tokenizer(self) -> Any:
        self.load()
        return self._tokenizer

    @property
    def model(self) -> Any:
        self.load()
        return self._model

    # -- prompts -----------------------------------------------------------------------------------------
    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def render(self, prompt: Prompt) -> str:
        """The prompt as the model reads it: through the tokenizer's chat template when it has one."""
        messages = as_messages(prompt)
        tok = self.tokenizer
        if not self.has_chat_template:
            return plain_prompt(messages)
        # enable_thinking=False asks templates of reasoning models (Qwen3) for a direct answer; others ignore it.
        options = {"tokenize": False, "add_generation_prompt": True, "enable_thinking": False}
        try:
            return str(tok.apply_chat_template(messages, **options))
        except Exception as exc:  # jinja2 raises TemplateError from inside the template; its class varies
            if not any(m["role"] == "system" for m in messages):
                raise GeneratorError(f"the chat template of {self.name} failed: {exc}") from exc
            # Some templates (Gemma's) refuse a system turn: give its text in the first user turn instead.
            return str(tok.apply_chat_template(fold_system(messages), **options))

    def _encode(self, prompt: Prompt) -> Any:
        text = self.render(prompt)
        # A chat template already holds the special tokens (BOS...) the model expects; plain text gets them here.
        return self.tokenizer(text, return_tensors="pt", add_special_tokens=not self.has_chat_template)

    def prompt_tokens(self, prompt: Prompt) -> int:
        return int(self._encode(prompt)["input_ids"].shape[1])

    @property
    def max_prompt_tokens(self) -> int | None:
        self.load()
        return None if self._context is None else max(self._context - self.max_new_tokens, 1)

    def _inputs(self, prompt: Prompt, max_new_tokens: int | None) -> tuple[Any, dict[str, Any]]:
        inputs = self._encode(prompt)
        n = int(inputs["input_ids"].shape[1])
        new = max_new_tokens or self.max_new_tokens
        limit = None if self._context is None else self._context - new
        if limit is not None and n > limit:
            raise GeneratorError(
                f"the prompt takes {n} tokens, more than the {limit} that {self.name} can read while leaving "
                f"room for {new} new tokens: retrieve fewer passages (-k)"
            )
        tok = self._tokenizer
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        inputs = inputs.to(self._model.device)
        options: dict[str, Any] = {"max_new_tokens": new, "do_sample": False, "pad_token_id": pad}
        # Sampling settings shipped in a checkpoint's generation_config would only draw warnings under greedy.
        options.update(temperature=None, top_p=None, top_k=None)
        return inputs, options

    def _new_tokens(self, inputs: Any, output: Any) -> Any:
        if getattr(self._model.config, "is_encoder_decoder", False):
            return output[0]
        return output[0, inputs["input_ids"].shape[1]:]

    # -- generating --------------------------------------------------------------------------------------
    def generate(self, prompt: Prompt, *, max_new_tokens: int | None = None) -> str:
        self.load()
        torch: Any = require("torch")
        inputs, options = self._inputs(prompt, max_new_tokens)
        with self._run_lock, torch.inference_mode():
            output = self._model.generate(**inputs, **options)
        return str(self._tokenizer.decode(self._new_tokens(inputs, output), skip_special_tokens=True))

    def stream(self, prompt: Prompt, *, max_new_tokens: int | None = None) -> Iterator[str]:
        """The reply in pieces, generated on a worker thread. Closing the iterator early stops generation."""
        self.load()
        torch: Any = require("torch")
        transformers: Any = require("transformers")
        inputs, options = self._inputs(prompt, max_new_tokens)
        streamer = transformers.TextIteratorStreamer(self._tokenizer, skip_prompt=True, skip_special_tokens=True)
        stop = threading.Event()
        failure: list[BaseException] = []

        class _Stop(transformers.StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full((input_ids.shape[0],), stop.is_set(), dtype=torch.bool, device=input_ids.device)

        def work() -> None:
            try:
                with self._run_lock, torch.inference_mode():
                    self._model.generate(**inputs, **options, streamer=streamer,
                                         stopping_criteria=transformers.StoppingCriteriaList([_Stop()]))
            except BaseException as exc:  # handed to the reading thread, which re-raises it
                failure.append(exc)
                streamer.on_finalized_text("", stream_end=True)  # else the reader would wait for ever

        thread = threading.Thread(target=work, name=f"generate:{self.name}", daemon=True)
        thread.start()
        try:
            for piece in streamer:
                if piece:
                    yield piece
        finally:
            stop.set()
            thread.join()
        if failure:
            raise GeneratorError(f"{self.name} failed while generating: {failure[0]}") from failure[0]


_generators: dict[tuple[str, str, str, int], TransformersGenerator] = {}
_generators_lock = threading.Lock()


def get_generator(
    model: str, *, device: str = "auto", dtype: str = "auto", max_new_tokens: int | None = None
) -> TransformersGenerator:
    """The process-wide generator for `model` (a folder or a name), created once and loaded on first use."""
    probe = TransformersGenerator(model, device=device, dtype=dtype, max_new_tokens=max_new_tokens)
    key = (probe.source, device, dtype, max_new_tokens or 0)
    with _generators_lock:
        return _generators.setdefault(key, probe)


def resolve_generator(generator: Generator | str | None) -> Generator | None:
    """None (extractive answers), a Generator as given, or the process-wide generator for a model name/path."""
    if generator is None or isinstance(generator, Generator):
        return generator
    if isinstance(generator, str | os.PathLike):
        return get_generator(os.fspath(generator))
    raise GeneratorError(f"generator must be a model path or name, or a Generator, not {type(generator).__name__}")


def forget_generators() -> None:
    """Drop the cached generators (their models are freed once nothing else holds them)."""
    with _generators_lock:
        _generators.clear()
