"""The numpy forward pass that embeds questions without torch: same tokens and same vectors as
sentence-transformers, used for small inputs, and declined for model layouts it does not implement."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.embed.model import SentenceTransformerEmbedder, resolve_model
from rag.embed.numpy_bert import NumpyBert, _gelu

ROOT = Path(__file__).resolve().parents[1]


def test_gelu_is_the_exact_one_within_float_precision() -> None:
    import math

    xs = np.linspace(-10, 10, 4001)
    exact = np.array([0.5 * x * (1.0 + math.erf(x / math.sqrt(2.0))) for x in xs])
    got = _gelu(xs.copy())
    assert np.max(np.abs(got - exact)) < 1e-6
    assert np.max(np.abs(_gelu(xs.astype(np.float32)) - exact)) < 2e-6  # the dtype the forward pass runs in
    assert got[xs < -6].max() <= 0.0 < got[xs > 0].min()  # the sign of exp(-h^2 / 2) underflowing to 0: kept


def _model_folder() -> Path:
    return Path(resolve_model(None)[1])


def test_unsupported_layouts_are_declined(tmp_path: Path) -> None:
    src = _model_folder()
    if not (src / "modules.json").is_file():
        pytest.skip("the default model package is not installed")
    folder = tmp_path / "model"
    shutil.copytree(src, folder, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    assert NumpyBert.from_folder(folder) is None  # no weights file
    pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
    pooling.update(pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    (folder / "model.safetensors").symlink_to(src / "model.safetensors")
    assert NumpyBert.from_folder(folder) is None  # CLS pooling is not implemented
    assert NumpyBert.from_folder(tmp_path / "missing") is None
    hub_only = SentenceTransformerEmbedder("some-org/some-model")
    assert hub_only.lite is None  # not a local folder: torch does the work


@pytest.mark.integration
def test_numpy_vectors_and_tokens_match_sentence_transformers(real_embedder: SentenceTransformerEmbedder) -> None:
    lite = real_embedder.lite
    assert lite is not None
    texts = ["When did Turkey and Syria sign the memorandum of understanding?", "Who?",
             "Shares fell 3.2% on Tuesday — the fourth fall in a row, analysts said. " * 3,
             "A very long text that the model truncates. " * 80]
    st = real_embedder.model
    theirs = st.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    ours = lite.encode(texts)
    assert ours.dtype == np.float32 and ours.shape == theirs.shape
    assert np.sum(ours * theirs, axis=1).min() > 0.9999
    hf = st.tokenizer(texts, add_special_tokens=False, truncation=False)["input_ids"]
    assert lite.count_tokens(texts) == [len(x) for x in hf] == real_embedder.count_tokens(texts)
    assert (real_embedder.dim, real_embedder.max_tokens) == (384, 254)
    # embed() sends a question down the numpy path, and a corpus-sized input down torch's
    q = real_embedder.embed([texts[0]])
    assert np.array_equal(q, lite.encode([texts[0]]))


@pytest.mark.integration
def test_asking_needs_no_torch(tmp_path: Path) -> None:
    """A fresh process answers a question's embedding without importing torch (most of a cold start)."""
    code = (
        "import sys\n"
        "from rag.embed.model import SentenceTransformerEmbedder\n"
        "e = SentenceTransformerEmbedder()\n"
        "v = e.embed(['When did Turkey and Syria sign the memorandum?'])\n"
        "assert v.shape == (1, e.dim) and abs(float((v * v).sum()) - 1) < 1e-5\n"
        "print('torch' in sys.modules, 'sentence_transformers' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         check=True, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert out.stdout.split() == ["False", "False"]
