"""TransformersGenerator on tiny random-weight models built here: real loading, chat templating, generation and
streaming, offline. The text is gibberish; what is tested is the machinery around it."""

from __future__ import annotations

import threading
from collections.abc import Generator as PyGenerator
from pathlib import Path
from typing import cast

import pytest
from tiny_lm import NO_SYSTEM_TEMPLATE, build_tiny_model

from rag.errors import GeneratorError
from rag.generative.model import (
    Generator,
    TransformersGenerator,
    forget_generators,
    get_generator,
    plain_prompt,
    resolve_generator,
)
from rag.generative.prompt import SYSTEM_PROMPT

MESSAGES = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "When did Turkey sign?"}]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    seed = next((Path(__file__).resolve().parents[1] / "seeds").glob("*.txt")).read_text(encoding="utf-8")
    root = tmp_path_factory.mktemp("tiny-models")
    texts = [seed, SYSTEM_PROMPT]
    return {
        "llama": build_tiny_model(root / "llama", texts=texts, kind="llama"),
        "gpt2-plain": build_tiny_model(root / "gpt2-plain", texts=texts, kind="gpt2", chat_template=None),
        "gpt2-nosystem": build_tiny_model(root / "gpt2-nosystem", texts=texts, kind="gpt2",
                                          chat_template=NO_SYSTEM_TEMPLATE),
        "t5": build_tiny_model(root / "t5", texts=texts, kind="t5", seed=1),
        "short": build_tiny_model(root / "short", texts=texts, kind="llama", positions=160),
    }


@pytest.fixture(autouse=True)
def _fresh_cache():
    forget_generators()
    yield
    forget_generators()


def test_loads_on_cpu_in_float32_and_uses_the_chat_template(models):
    gen = TransformersGenerator(str(models["llama"]), max_new_tokens=12)
    assert gen._model is None  # nothing loaded until first use
    rendered = gen.render(MESSAGES)
    assert rendered == ("<|system|>\nAnswer briefly.<|end|>\n<|user|>\nWhen did Turkey sign?<|end|>\n"
                        "<|assistant|>\n")
    assert (gen.device, gen.dtype) == ("cpu", "float32")
    assert gen.name == str(models["llama"].resolve())
    assert isinstance(gen, Generator)
    assert gen.max_prompt_tokens == 8192 - 12
    assert gen.prompt_tokens(MESSAGES) == len(gen.tokenizer(rendered, add_special_tokens=False)["input_ids"])


def test_generate_is_greedy_and_stream_pieces_join_to_it(models):
    gen = TransformersGenerator(str(models["llama"]), max_new_tokens=16)
    first = gen.generate(MESSAGES)
    assert first and first == gen.generate(MESSAGES)
    pieces = list(gen.stream(MESSAGES))
    assert len(pieces) > 1 and "".join(pieces) == first
    assert "<|end|>" not in first and "<|assistant|>" not in first
    # A plain string prompt is a single user turn.
    assert gen.render("Hello") == "<|user|>\nHello<|end|>\n<|assistant|>\n"


def test_closing_the_stream_early_stops_generation(models):
    gen = TransformersGenerator(str(models["llama"]), max_new_tokens=2000)
    real = gen.model.generate
    produced = []

    def counting(**kwargs):
        out = real(**kwargs)
        produced.append(out.shape[1] - kwargs["input_ids"].shape[1])
        return out

    gen.model.generate = counting
    stream = cast(PyGenerator[str, None, None], gen.stream(MESSAGES))
    next(stream)
    stream.close()  # sets the stop flag and joins the worker
    assert not any(t.name.startswith("generate:") for t in threading.enumerate())
    assert produced and produced[0] < 2000


def test_model_without_chat_template_gets_a_labelled_plain_prompt(models):
    gen = TransformersGenerator(str(models["gpt2-plain"]), max_new_tokens=8)
    assert not gen.has_chat_template
    assert gen.render(MESSAGES) == plain_prompt(MESSAGES)
    assert gen.render(MESSAGES).endswith("User: When did Turkey sign?\n\nAssistant:")
    assert isinstance(gen.generate(MESSAGES), str)


def test_template_refusing_a_system_turn_gets_it_in_the_first_user_turn(models):
    gen = TransformersGenerator(str(models["gpt2-nosystem"]), max_new_tokens=8)
    assert gen.render(MESSAGES) == "<|user|>\nAnswer briefly.\n\nWhen did Turkey sign?<|end|>\n<|assistant|>\n"


def test_encoder_decoder_model(models):
    gen = TransformersGenerator(str(models["t5"]), max_new_tokens=10)
    out = gen.generate(MESSAGES)
    assert out and "".join(gen.stream(MESSAGES)) == out
    assert gen.max_prompt_tokens is None  # relative positions: no fixed limit


def test_reply_length_comes_from_the_checkpoint_unless_given(models):
    shipped = TransformersGenerator(str(models["llama"]))
    assert shipped.load().max_new_tokens == 24  # from the folder's generation_config.json
    assert shipped.max_prompt_tokens == 8192 - 24
    assert TransformersGenerator(str(models["llama"]), max_new_tokens=5).load().max_new_tokens == 5
    asked = []
    real = shipped.model.generate

    def recording(**kwargs):
        asked.append(kwargs["max_new_tokens"])
        return real(**kwargs)

    shipped.model.generate = recording
    shipped.generate(MESSAGES)
    assert asked == [24]


def test_too_long_prompt_is_a_clear_error(models):
    gen = TransformersGenerator(str(models["short"]), max_new_tokens=40)
    with pytest.raises(GeneratorError, match=r"the prompt takes \d+ tokens, more than the 120"):
        gen.generate([{"role": "user", "content": "Syria " * 200}])


def test_loaded_once_per_process(models):
    a = get_generator(str(models["llama"]))
    b = resolve_generator(str(models["llama"]))
    assert a is b and resolve_generator(None) is None and resolve_generator(a) is a
    assert a.load().model is a.load().model


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"model": ""}, "no generator model given"),
    ({"model": "x", "device": "tpu"}, "unknown device 'tpu'"),
    ({"model": "x", "dtype": "int4"}, "unknown dtype 'int4'"),
    ({"model": "x", "max_new_tokens": 0}, "max_new_tokens must be at least 1"),
])
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(GeneratorError, match=message):
        TransformersGenerator(**kwargs)


def test_missing_model_folder_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(GeneratorError, match=r"no model folder at .*no-such-model: give the folder"):
        TransformersGenerator(str(tmp_path / "no-such-model")).load()
    (tmp_path / "empty").mkdir()
    with pytest.raises(GeneratorError, match=r"cannot load the generator .*empty.* save_pretrained"):
        TransformersGenerator(str(tmp_path / "empty")).load()
    with pytest.raises(GeneratorError, match=r"cannot load the generator 'no-such-org/no-such-model'"):
        TransformersGenerator("no-such-org/no-such-model").load()  # a hub name, with the hub offline
    (tmp_path / "file.bin").write_bytes(b"x")
    with pytest.raises(GeneratorError, match="is a file"):
        TransformersGenerator(str(tmp_path / "file.bin")).load()
    with pytest.raises(GeneratorError, match="must be a model path"):
        resolve_generator(42)  # type: ignore[arg-type]


def test_device_cuda(models):
    import torch

    gen = TransformersGenerator(str(models["llama"]), device="cuda", max_new_tokens=8)
    if not torch.cuda.is_available():
        with pytest.raises(GeneratorError, match="no CUDA device"):
            gen.load()
        return
    # On a GPU machine: auto and cuda both land there, in bfloat16 (or float16), and agree with each other.
    auto = TransformersGenerator(str(models["llama"]), max_new_tokens=8)
    assert gen.load().device == auto.load().device == "cuda"
    assert gen.dtype in ("bfloat16", "float16") and str(gen.model.device).startswith("cuda")
    assert gen.generate(MESSAGES) == "".join(gen.stream(MESSAGES))
