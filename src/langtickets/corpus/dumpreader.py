"""Stream the pages of a MediaWiki XML export out of a (bzip2-compressed) dump file.

Decompression runs in a separate process (``lbzip2``, else ``pbzip2``, else Python's ``bz2`` in a child
interpreter) so it overlaps with parsing and extraction. The decompressed XML is cut into raw ``<page>``
elements at the byte level, which is safe because markup inside ``<text>`` is always entity-escaped; each
page is parsed later, by the extraction workers. The end of the stream is checked: a dump that stops
inside a page or before ``</mediawiki>`` is truncated, and a decompressor that exits with an error means
the compressed file is corrupt.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from langtickets.errors import InputError

BZIP2_MAGIC = b"BZh"
READ_BYTES = 1 << 20
PAGE_OPEN, PAGE_CLOSE, ROOT_CLOSE = b"<page>", b"</page>", b"</mediawiki>"
NAMESPACE_RE = re.compile(rb'<namespace[^>]*\bkey="(-?\d+)"[^>]*?(?:/>|>([^<]*)</namespace>)')
DBNAME_RE = re.compile(rb"<dbname>([^<]*)</dbname>")
REDOWNLOAD = "download the dump again (the file is damaged) or point the config at an intact copy"


@dataclass
class SiteInfo:
    """What the dump's ``<siteinfo>`` header says (the language comes from the command line, not here)."""

    dbname: str = ""
    namespaces: dict[str, int] = field(default_factory=dict)  # prefix name -> key, article namespace left out


def sniff_format(path: Path) -> str:
    """Return ``"bz2"`` or ``"xml"`` from the file's first bytes; anything else is an :class:`InputError`."""
    if not path.is_file():
        raise InputError(path, "dump not found",
                         "check corpus.source / local_pattern in the config, or run the download first")
    with open(path, "rb") as handle:
        head = handle.read(512)
    if head.startswith(BZIP2_MAGIC):
        return "bz2"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html")):
        raise InputError(path, "this is an HTML page, not a dump (an error page saved in place of the download?)",
                         "delete it and download the dump again")
    if text.startswith(b"<mediawiki") or (text.startswith(b"<?xml") and b"<mediawiki" in text):
        return "xml"
    raise InputError(path, f"not a bzip2-compressed MediaWiki dump (it starts with {head[:12]!r})",
                     "give a *-pages-articles.xml.bz2 file (or its uncompressed .xml)")


def decompressor_command(path: Path, threads: int) -> tuple[list[str], str]:
    """The command that writes the decompressed dump to stdout, and its name for the stats."""
    if shutil.which("lbzip2"):
        return ["lbzip2", "-dc", "-n", str(max(1, threads)), str(path)], "lbzip2"
    if shutil.which("pbzip2"):
        return ["pbzip2", "-dc", f"-p{max(1, threads)}", str(path)], "pbzip2"
    code = "import sys; from langtickets.corpus.dumpreader import bunzip_to_stdout; bunzip_to_stdout(sys.argv[1])"
    return [sys.executable, "-c", code, str(path)], "python-bz2"


def bunzip_to_stdout(path: str) -> None:
    """Decompress ``path`` to stdout with Python's bz2 (the fallback decompressor process)."""
    import bz2

    out = sys.stdout.buffer
    try:
        with bz2.open(path, "rb") as handle:
            while chunk := handle.read(READ_BYTES):
                out.write(chunk)
    except BrokenPipeError:  # the reader stopped early (max articles reached)
        sys.exit(0)
    except (OSError, EOFError) as error:
        print(f"{path}: {error}", file=sys.stderr)
        sys.exit(1)


class DumpStream:
    """The decompressed bytes of a dump, from a child process (bz2) or the file itself (plain XML).

    Use as a context manager; :meth:`finish` checks the decompressor's exit status once all is read.
    """

    def __init__(self, path: Path, threads: int = 2):
        self.path = path
        self.format = sniff_format(path)
        self.decompressor = "none"
        self._process: subprocess.Popen | None = None
        self._errors = tempfile.TemporaryFile()
        if self.format == "bz2":
            command, self.decompressor = decompressor_command(path, threads)
            self._process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self._errors, bufsize=0)
            self.raw = self._process.stdout
        else:
            self.raw = open(path, "rb")

    def __enter__(self) -> DumpStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def read(self, size: int = READ_BYTES) -> bytes:
        return self.raw.read(size)

    def close(self) -> None:
        """Stop the decompressor (if it still runs) and release the pipe."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
        self.raw.close()
        if self._process is not None:
            self._process.wait()
        self._errors.close()

    def finish(self) -> None:
        """After reading to the end: raise :class:`InputError` if the decompressor failed."""
        if self._process is None:
            return
        if self._process.wait() != 0:
            self._errors.seek(0)
            detail = self._errors.read().decode("utf-8", errors="replace").strip().splitlines()
            reason = detail[-1] if detail else f"{self.decompressor} exited with status {self._process.returncode}"
            raise InputError(self.path, f"corrupt or truncated bzip2 data ({reason})", REDOWNLOAD)


def parse_siteinfo(header: bytes, path: Path) -> SiteInfo:
    """Read the namespaces and database name from the bytes before the first page."""
    if header.startswith((b"\xff\xfe", b"\xfe\xff", b"<\x00", b"\x00<")):
        raise InputError(path, "the XML is UTF-16 encoded", "convert it to UTF-8 first (iconv -f UTF-16 -t UTF-8)")
    if b"<mediawiki" not in header:
        raise InputError(path, "no <mediawiki> root element: this is not a MediaWiki XML export",
                         "give a *-pages-articles.xml.bz2 dump")
    info = SiteInfo()
    if match := DBNAME_RE.search(header):
        info.dbname = match.group(1).decode("utf-8", errors="replace")
    for key, name in NAMESPACE_RE.findall(header):
        if int(key) != 0 and name:
            info.namespaces[name.decode("utf-8", errors="replace")] = int(key)
    return info


def _header(stream: DumpStream) -> tuple[bytes, bytes]:
    """Read up to the first ``<page>``; return (header, the bytes after it already read)."""
    buffer = b""
    while (at := buffer.find(PAGE_OPEN)) < 0:
        chunk = stream.read()
        if not chunk:
            stream.finish()  # a corrupt file often yields no bytes at all: report that, not "not a dump"
            return buffer, b""
        buffer += chunk
    return buffer[:at], buffer[at:]


def iter_pages(stream: DumpStream) -> tuple[SiteInfo, Iterator[bytes]]:
    """Return the dump's :class:`SiteInfo` and an iterator over its raw ``<page>...</page>`` elements.

    The iterator raises :class:`InputError` when the XML ends early (truncated dump) or the
    decompressor fails (corrupt dump), after yielding every complete page before the damage.
    """
    header, rest = _header(stream)
    info = parse_siteinfo(header, stream.path)
    return info, _pages(stream, rest)


def _pages(stream: DumpStream, buffer: bytes) -> Iterator[bytes]:
    pos = 0
    while True:
        start = buffer.find(PAGE_OPEN, pos)
        end = buffer.find(PAGE_CLOSE, start) if start >= 0 else -1
        if end >= 0:
            yield buffer[start : end + len(PAGE_CLOSE)]
            pos = end + len(PAGE_CLOSE)
            continue
        chunk = stream.read()
        if not chunk:
            break
        buffer = buffer[pos:] + chunk
        pos = 0
    stream.finish()
    tail = buffer[pos:]
    if PAGE_OPEN in tail or ROOT_CLOSE not in tail:
        raise InputError(stream.path, "the XML ends before </mediawiki> (truncated dump)", REDOWNLOAD)
