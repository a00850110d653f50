"""The library's exceptions. The library raises these; the CLI and UI translate them into friendly messages."""

from __future__ import annotations


class RagError(Exception):
    """Base class of every error the library raises on purpose."""


class QuestionError(RagError, ValueError):
    """The question cannot be asked as given (empty, too long, no words)."""


class CorpusError(RagError):
    """The corpus path is missing, empty, or holds nothing that can be indexed."""


class IngestError(RagError):
    """One file could not be read; the message names the file and the reason."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class IndexError_(RagError):
    """The index on disk is missing, corrupt, or was built with other settings."""


class IndexMissingError(IndexError_):
    """No index has been built in this folder yet."""


class IndexMismatchError(IndexError_):
    """The index was built with another embedding model or format version."""


class IndexCorruptError(IndexError_):
    """A file of the index is missing, truncated, or does not match its checksum."""


class IndexLockedError(IndexError_):
    """Another process is updating the same index."""


class StoreError(IndexError_):
    """The index's vector store (a Qdrant server, say) cannot be reached or refused a request; the message names
    its URI."""


class IndexWriteError(IndexError_):
    """A new generation of the index could not be written (a full disk, say); the live index is unchanged."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot write the index to {path}: {reason}; nothing was changed, the index in use "
                         "is the one before this update")
        self.path = path
        self.reason = reason


class ClusterError(RagError):
    """The Ray cluster a build embeds on cannot be reached, or lost work it was given; the message names its
    address."""


class CitationError(RagError):
    """A citation's quote is not the document text at its offsets: a bug, never shown to a user."""


class GoldFormatError(RagError):
    """A gold or corpus file line cannot be resolved; the message names the file and line."""


class GeneratorError(RagError):
    """The generator model cannot be loaded, or the prompt does not fit it."""


class MissingDependencyError(RagError, ImportError):
    """An optional package is not installed; the message says what to install."""


def require(module: str, *, extra: str | None = None, package: str | None = None) -> object:
    """Import `module`, or raise MissingDependencyError saying what to pip-install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        what = f"rag-news[{extra}]" if extra else (package or module)
        raise MissingDependencyError(
            f"{module!r} is needed for this feature but is not installed: pip install '{what}'"
        ) from exc
