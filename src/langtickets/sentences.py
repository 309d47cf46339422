"""Reading the corpus stage's ``sentences.txt.gz``: UTF-8, one sentence a line, a blank line between documents.

Both the vocabulary and the tokenisation stage stream these files (they can be gigabytes at paper scale),
so everything here is a generator over lines; nothing holds a whole file in memory. A line that is empty
or only ASCII whitespace ends a document; several in a row count as one boundary. (ASCII only, so that
the quick byte-level count and the text-level reading agree line for line.)
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from langtickets.errors import InputError
from langtickets.io import open_text

_FIX = "re-run the split stage that writes it"
_ASCII_SPACE = " \t\n\r\x0b\x0c"  # what bytes.strip() removes


@dataclass(frozen=True)
class CorpusCounts:
    """How many documents and sentences a sentences file holds."""

    documents: int
    sentences: int


def iter_lines(path: str | Path, binary: bool = False) -> Iterator[tuple[int, str | bytes]]:
    """Yield ``(line_number, line)``, newline removed; unreadable files raise :class:`InputError`.

    ``binary`` yields undecoded bytes (faster when only counting).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "sentences file not found", _FIX)
    number = 0
    try:
        with _open(path, binary) as handle:
            for number, line in enumerate(handle, start=1):
                yield number, line.rstrip(b"\r\n" if binary else "\r\n")
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise InputError(path, f"cannot read the file ({error})", _FIX, line=number + 1) from error
    except UnicodeDecodeError as error:
        raise InputError(path, "the text is not valid UTF-8", _FIX, line=number + 1) from error


def _open(path: Path, binary: bool) -> IO:
    if not binary:
        return open_text(path)
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def iter_sentences(path: str | Path) -> Iterator[str]:
    """Yield every sentence (non-blank line) of a sentences file, in order."""
    for _, line in iter_lines(path):
        if line.strip(_ASCII_SPACE):
            yield line


def iter_documents(path: str | Path) -> Iterator[list[str]]:
    """Yield each document as the list of its sentences, in file order."""
    document: list[str] = []
    for _, line in iter_lines(path):
        if line.strip(_ASCII_SPACE):
            document.append(line)
        elif document:
            yield document
            document = []
    if document:
        yield document


def count_corpus(path: str | Path) -> CorpusCounts:
    """Count documents and sentences in one streaming pass (over bytes: the text is not decoded)."""
    documents = sentences = 0
    in_document = False
    for _, line in iter_lines(path, binary=True):
        if line.strip():
            sentences += 1
            documents += not in_document
            in_document = True
        else:
            in_document = False
    return CorpusCounts(documents=documents, sentences=sentences)
