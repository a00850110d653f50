"""The collection: the one owner of what is in an index (corpus folders, uploads, removals); every write goes
through it. `build` builds from folders, `uploads` keeps the uploaded files and the removed ids."""

from rag.collection.build import BuildResult, build_index, recorded_corpus
from rag.collection.collection import AddResult, Collection, DocumentInfo

__all__ = ["AddResult", "BuildResult", "Collection", "DocumentInfo", "build_index", "recorded_corpus"]
