"""The connection to a Qdrant store (`rag.index.qdrant`): one client per store URI per process, as Qdrant's local
mode locks its folder against a second one (in this process or another), and every call's failure turned into
a StoreError that names the URI: a server that cannot be reached, an API key it refuses, a folder another
process holds. qdrant-client is imported only here, and only when a Qdrant store is used."""

from __future__ import annotations

import atexit
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from rag.config import StoreSpec
from rag.errors import MissingDependencyError, RagError, StoreError

_TIMEOUT = 10  # seconds a server request may take before it is reported unreachable
_clients: dict[tuple[str, str | None], _Client] = {}
_clients_lock = threading.Lock()


def models() -> Any:
    try:
        from qdrant_client import models
    except ImportError as exc:
        raise MissingDependencyError("a Qdrant store needs qdrant-client: pip install 'rag-news[qdrant]'") from exc
    return models


class _Client:
    """One QdrantClient per store per process (local mode locks its folder against a second client), every
    call's failure turned into StoreError naming the URI."""

    def __init__(self, spec: StoreSpec) -> None:
        assert spec.uri is not None
        self.uri = spec.uri
        self.local = spec.uri.startswith("qdrant:")
        # Local mode is plain Python objects: one call at a time (the chat answers from several threads).
        self._lock: contextlib.AbstractContextManager[Any] = (threading.RLock() if self.local
                                                              else contextlib.nullcontext())
        models()
        from qdrant_client import QdrantClient

        with self._errors("open"):
            self.raw = (QdrantClient(path=self.uri.removeprefix("qdrant:")) if self.local
                        else QdrantClient(url=self.uri, api_key=spec.api_key, timeout=_TIMEOUT,
                                          check_compatibility=False))  # a failed check only warns; calls say

    def __call__(self, method: str, *args: Any, **kwargs: Any) -> Any:
        with self._lock, self._errors(method.replace("_", " ")):
            return getattr(self.raw, method)(*args, **kwargs)

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except RagError:
            raise
        except Exception as exc:  # qdrant-client raises ValueError, RuntimeError, its own and httpx's exceptions
            raise StoreError(_explain(self.uri, what, exc)) from exc


def _explain(uri: str, what: str, exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    if status in (401, 403):
        return (f"the Qdrant server at {uri} refused the API key (HTTP {status}): set QDRANT_API_KEY to a key it "
                "accepts")
    if "already accessed" in reason:
        return (f"the Qdrant store {uri} is open in another process: local mode serves one process at a time; "
                "stop that one, or run a Qdrant server (docs/scale.md)")
    if type(exc).__name__ == "ResponseHandlingException" or isinstance(exc, OSError):
        return f"cannot reach the Qdrant server at {uri} ({reason})"
    return f"the Qdrant store at {uri} failed to {what} ({reason})"


def client(spec: StoreSpec) -> _Client:
    assert spec.uri is not None
    key = (spec.uri, None if spec.uri.startswith("qdrant:") else spec.api_key)
    with _clients_lock:
        if not _clients:  # closed before exit: a client closed by the garbage collector at exit prints errors
            atexit.register(release)
        if key not in _clients:
            _clients[key] = _Client(spec)
        return _clients[key]


def release(uri: str | None = None) -> None:
    """Close this process's clients of `uri` (all by default): local mode unlocks its folder for another process."""
    with _clients_lock:
        for key in [k for k in _clients if uri is None or k[0] == uri]:
            with contextlib.suppress(Exception):
                _clients.pop(key).raw.close()
