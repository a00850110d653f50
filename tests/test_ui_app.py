"""rag.chat.app (options, exposure warning, login) and rag.chat.examples (questions for the loaded corpus)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.chat import app
from rag.chat.examples import read_examples, suggest
from rag.errors import RagError
from rag.ingest.corpus import load_corpus
from rag.records import Document

SEEDS = Path(__file__).resolve().parents[1] / "seeds"


def test_defaults_listen_on_this_machine_only() -> None:
    args = app.parse_args([])
    assert (args.host, args.port) == ("127.0.0.1", 7860)
    assert app.exposure_warning(args.host, None) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.org"])
def test_listening_elsewhere_without_login_warns(host: str) -> None:
    warning = app.exposure_warning(host, None)
    assert warning and "without authentication" in warning and "--auth" in warning
    assert app.exposure_warning(host, ("ann", "secret")) is None


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2", "[::1]"])
def test_loopback_hosts(host: str) -> None:
    assert app.is_loopback(host)


def test_auth_is_user_colon_password() -> None:
    assert app.parse_auth("ann:s3:cret") == ("ann", "s3:cret")
    assert app.parse_auth(None) is None
    for bad in ("ann", ":pw", "ann:"):
        with pytest.raises(RagError, match="USER:PASSWORD"):
            app.parse_auth(bad)


def test_main_refuses_bad_options_before_loading_anything(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(RagError, match="USER:PASSWORD"):
        app.main(["--auth", "nopassword"])
    with pytest.raises(RagError, match="--port"):
        app.main(["--port", "70000"])
    with pytest.raises(RagError, match="--port"):
        app.main(["--host", "0.0.0.0", "--port", "0"])
    assert "WARNING: listening on 0.0.0.0 without authentication" in capsys.readouterr().err


def test_rag_chat_help_goes_through_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    from rag.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["chat", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--host" in out and "--index-dir" in out and "--corpus" in out and "--auth" in out


def test_examples_for_the_seed_article_name_its_people_and_organisations() -> None:
    questions = suggest(load_corpus([SEEDS]).documents)
    assert len(questions) == 4 and len(set(questions)) == 4
    assert any(q.startswith("Who is ") for q in questions) and any(q.startswith("What is ") for q in questions)
    assert "Who is Yasar Guler?" in questions  # "Turkish Defense Minister Yasar Guler"


def test_examples_fall_back_to_frequent_names_and_handle_empty_corpora() -> None:
    text = "Valmara port reopened. Valmara harbour is busy. Ships wait at Valmara. The Valmara mayor spoke."
    assert suggest([Document(id="a", title="t", text=text)]) == ["What do the articles say about Valmara?"]
    assert suggest([]) == []


def test_examples_file(tmp_path: Path) -> None:
    path = tmp_path / "examples.txt"
    path.write_text("# for the demo\nWho won?\n\n  When was it?  \n", encoding="utf-8")
    assert read_examples(path) == ["Who won?", "When was it?"]


def test_login_is_one_option_away(index_dir: Path, tmp_path: Path, fake_embedder) -> None:
    """The page served with `auth` refuses the API without the login, and answers with it."""
    import socket
    import urllib.error
    import urllib.request

    from gradio_client import Client

    from rag.chat.blocks import build
    from rag.collection import Collection

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    seed = next(SEEDS.glob("*.txt"))
    (corpus / seed.name).write_text(seed.read_text(encoding="utf-8"), encoding="utf-8")
    library = Collection(index_dir, [corpus], embedder=fake_embedder)
    library.sync()
    demo = build(library)
    for port in range(7879, 7869, -1):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                break
    app.start(demo, host="127.0.0.1", port=port, auth=("ann", "pw"), max_file_size=2**20)
    url = f"http://127.0.0.1:{port}/"
    try:
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(url + "config", timeout=10)
        assert exc.value.code == 401
        with pytest.raises(Exception, match="credentials were not provided"):
            Client(url, verbose=False)
        with pytest.raises(ValueError, match="Could not login"):
            Client(url, auth=("ann", "wrong"), verbose=False)
        question = "When did Turkey and Syria sign the memorandum of understanding?"
        out = Client(url, auth=("ann", "pw"), verbose=False).predict(question, api_name="/ask")
        assert out["question"] == question and "citations" in out
    finally:
        demo.close()
