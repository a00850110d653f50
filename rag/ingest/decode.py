"""Bytes to text for article files: which encoding, and whether the bytes are text at all.

Newsroom exports come as UTF-8, UTF-16 (with or without a byte-order mark) or Windows-1252; anything else that
reaches a .txt name (a PDF, a Word file, an image) is refused with a message saying what it looks like, never
indexed as mojibake.
"""

from __future__ import annotations

import re
import unicodedata

from rag.errors import IngestError

# Signatures of formats people save under a text name by mistake.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "a PDF document (name it .pdf)"),
    (b"PK\x03\x04", "a ZIP archive (a Word .docx or an .epub?); save the article as text"),
    (b"\xd0\xcf\x11\xe0", "an old Microsoft Office document; save the article as text"),
    (b"{\\rtf", "an RTF document; save the article as plain text"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"\x7fELF", "a program"),
)
# Share of control or unassigned characters above which decoded "text" is really binary data.
_MAX_CONTROL_SHARE = 0.01
_SURROGATE = re.compile("[\ud800-\udfff]")
# Characters that take no room on the page: zero-width space, (non-)joiners, byte-order mark, word joiner, soft
# hyphen, Mongolian vowel separator and the invisible math operators. A text of these and white space is empty.
_VISIBLE = re.compile("[^\\s\u200b\u200c\u200d\ufeff\u2060\u00ad\u180e\u2061\u2062\u2063\u2064]")


def clean_str(value: str) -> str:
    """`value` with lone surrogates (undecodable file names, JSON escapes) replaced by U+FFFD, so that it can
    always be written as UTF-8."""
    return _SURROGATE.sub("\ufffd", value)


def is_blank(text: str) -> bool:
    """Whether `text` shows nothing: only white space and zero-width characters."""
    return _VISIBLE.search(text) is None


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _utf16_without_bom(head: bytes) -> str | None:
    """'utf-16-le' or 'utf-16-be' when NUL bytes sit in every other position, as in UTF-16 Latin text."""
    pairs = len(head) // 2
    if pairs < 8:
        return None
    even = sum(1 for i in range(0, 2 * pairs, 2) if head[i] == 0)
    odd = sum(1 for i in range(1, 2 * pairs, 2) if head[i] == 0)
    if odd > 0.3 * pairs and even == 0:
        return "utf-16-le"
    if even > 0.3 * pairs and odd == 0:
        return "utf-16-be"
    return None


def _looks_binary(text: str) -> bool:
    sample = text[:65536]
    if not sample:
        return False
    bad = sum(
        1 for ch in sample
        if ch not in "\t\n\r\f\v" and unicodedata.category(ch) in ("Cc", "Cn", "Co", "Cs")
    )
    return bad > _MAX_CONTROL_SHARE * len(sample)


def decode_text(data: bytes, name: str) -> str:
    """Bytes to text: UTF-8 (BOM or not), UTF-16 (BOM or not), else Windows-1252; binary data is refused.

    Raises IngestError naming `name` when the bytes are not text.
    """
    for magic, what in _MAGIC:
        if data.startswith(magic):
            raise IngestError(name, f"this is {what}, not a text file")
    text: str | None = None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise IngestError(name, f"invalid UTF-16 text ({exc.reason})") from exc
    elif b"\x00" in data:
        guess = _utf16_without_bom(data[:4096])
        try:
            text = data.decode(guess) if guess else None
        except UnicodeDecodeError:
            text = None
        if text is None:
            raise IngestError(name, "looks like a binary file, not text (it contains NUL bytes)")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                # Old newsroom exports are often Windows-1252; it maps almost every byte, so it comes last.
                text = data.decode("cp1252")
            except UnicodeDecodeError:
                text = data.decode("latin-1")
    if _looks_binary(text):
        raise IngestError(name, "looks like a binary file, not text (it is full of control characters)")
    return text
