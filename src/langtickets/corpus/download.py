"""Download a Wikipedia ``pages-articles`` dump and verify it against the dump's published checksums.

The dump is fetched into a stable ``<out>.part`` file next to the output and resumed with an HTTP Range
request when a previous attempt stopped half-way (Snakemake's ``retries:`` re-run the same command). It is
renamed to ``<out>`` only after its bzip2 signature and its sha1/md5 digest check out; a bad file is deleted
so the next attempt starts clean. Mirrors must be https; plain http is accepted only for a loopback host and
only when the caller asks for it (``allow_loopback_http``), which the tests do with a local server.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import os
import http.client
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from langtickets import __version__
from langtickets.cli import summary
from langtickets.errors import ConfigError, InputError
from langtickets.io import write_text

WIKI_RE = re.compile(r"[a-z][a-z0-9_]{1,15}")
DATE_RE = re.compile(r"[0-9]{8}|latest")
HEX_RE = re.compile(r"[0-9a-f]+")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
#: a bzip2 stream starts with "BZh", the block size digit, then the block magic (pi in BCD)
BZIP2_MAGIC = re.compile(rb"BZh[1-9]1AY&SY")
CHUNK_BYTES = 1 << 20


class TransferInterrupted(InputError):
    """The connection broke before the whole file arrived; the ``.part`` file can be resumed."""


@dataclass(frozen=True)
class DumpSource:
    """Where one dump and its checksum list live on a mirror."""

    mirror: str
    wiki: str
    date: str
    algorithm: str

    @property
    def dump_name(self) -> str:
        return f"{self.wiki}wiki-{self.date}-pages-articles.xml.bz2"

    @property
    def checksums_name(self) -> str:
        return f"{self.wiki}wiki-{self.date}-{self.algorithm}sums.txt"

    def url(self, name: str) -> str:
        return f"{self.mirror}/{self.wiki}wiki/{self.date}/{name}"


def validate_mirror(mirror: str, allow_loopback_http: bool = False) -> str:
    """Return ``mirror`` without a trailing slash, or raise :class:`ConfigError` if it is not allowed.

    Only https mirrors are accepted; ``http://`` is let through for 127.0.0.1/localhost/::1 alone, and only
    with ``allow_loopback_http`` (a test switch, never set by the workflow).
    """
    parts = urllib.parse.urlsplit(mirror)
    loopback_http = parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS and allow_loopback_http
    if not parts.hostname or parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError(
            f"mirror '{mirror}' is not a plain base URL; set corpus.mirror to e.g. https://dumps.wikimedia.org"
        )
    if parts.scheme != "https" and not loopback_http:
        raise ConfigError(
            f"mirror '{mirror}' is not https; set corpus.mirror to an https mirror such as https://dumps.wikimedia.org"
        )
    return mirror.rstrip("/")


def validate_dump_name(wiki: str, date: str) -> None:
    """Check ``wiki`` and ``date`` before they are put into any URL."""
    if not WIKI_RE.fullmatch(wiki):
        raise ConfigError(f"wiki '{wiki}' is not a Wikipedia database prefix (like 'en', 'fo', 'zh_yue'); "
                          "fix the 'wiki' column of the language table")
    if not DATE_RE.fullmatch(date):
        raise ConfigError(f"dump date '{date}' must be YYYYMMDD or 'latest'; fix corpus.dump_date in the config")
    if date != "latest":
        try:
            datetime.datetime.strptime(date, "%Y%m%d")
        except ValueError:
            raise ConfigError(f"dump date '{date}' is not a calendar date; fix corpus.dump_date in the config") \
                from None


def _opener(url: str) -> urllib.request.OpenerDirector:
    # Loopback never goes through a proxy configured in the environment.
    if urllib.parse.urlsplit(url).hostname in LOOPBACK_HOSTS:
        return urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener()


def _http_error(url: str, error: urllib.error.HTTPError) -> InputError:
    if error.code == 404:
        fix = ("check that the wiki and dump date exist on the mirror (the dated folders are listed under "
               f"{url.rsplit('/', 2)[0]}/); old dumps are removed after a few months, so pick a newer corpus.dump_date")
    else:
        fix = "try again later or set corpus.mirror to another mirror"
    return InputError(url, f"HTTP {error.code} {error.reason}", fix)


def _open(url: str, headers: dict[str, str], timeout: float):
    request = urllib.request.Request(url, headers={"User-Agent": f"langtickets/{__version__}", **headers})
    try:
        return _opener(url).open(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416:  # Range Not Satisfiable: the caller decides what the .part holds
            return error
        raise _http_error(url, error) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise InputError(url, f"cannot connect ({reason})", "check the network and corpus.mirror, then rerun") \
            from None


def fetch_text(url: str, timeout: float = 60.0) -> str:
    """Fetch a small text file (a checksum list)."""
    with _open(url, {}, timeout) as response:
        return response.read().decode("utf-8", errors="replace")


def _refuse_html(url: str, response) -> None:
    if response.headers.get_content_type() == "text/html":
        raise InputError(url, "the server sent an HTML page instead of the dump",
                         "open the URL in a browser to see the mirror's message, or set corpus.mirror to another one")


def _expected_size(response, done: int) -> int | None:
    length = response.headers.get("Content-Length")
    return done + int(length) if length and length.isdigit() else None


def _copy_body(url: str, response, part: Path, mode: str, done: int) -> None:
    total = _expected_size(response, done)
    try:
        with open(part, mode) as handle, tqdm(total=total, initial=done, unit="B", unit_scale=True,
                                              desc=part.name, file=sys.stderr, mininterval=2) as bar:
            while chunk := response.read(CHUNK_BYTES):
                handle.write(chunk)
                bar.update(len(chunk))
    except (OSError, http.client.HTTPException) as error:
        raise TransferInterrupted(url, f"transfer interrupted ({error!r})", "rerun to resume the .part file") from None
    if total is not None and part.stat().st_size < total:
        raise TransferInterrupted(url, f"connection closed after {part.stat().st_size} of {total} bytes",
                                  "rerun to resume the .part file")


def fetch_resumable(url: str, part: Path, timeout: float = 60.0) -> None:
    """Download ``url`` into ``part``, continuing from the bytes ``part`` already holds.

    A server that ignores the Range header (status 200) gets the file rewritten from the start; a 416
    answer means ``part`` is already complete (the checksum decides whether it is right).
    """
    done = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={done}-"} if done else {}
    response = _open(url, headers, timeout)
    with response:
        if response.status == 416:
            return
        _refuse_html(url, response)
        resumed = response.status == 206
        _copy_body(url, response, part, "ab" if resumed else "wb", done if resumed else 0)


def expected_digest(checksums: str, source: DumpSource, where: str) -> str:
    """Find the dump's digest in a ``<digest>  <file name>`` list (as published next to every dump)."""
    date = r"[0-9]{8}|latest" if source.date == "latest" else re.escape(source.date)
    name = re.compile(rf"{re.escape(source.wiki)}wiki-(?:{date})-pages-articles\.xml\.bz2")
    length = hashlib.new(source.algorithm).digest_size * 2
    for line in checksums.splitlines():
        fields = line.split()
        if len(fields) == 2 and name.fullmatch(fields[1].lstrip("*")) and HEX_RE.fullmatch(fields[0] or ""):
            if len(fields[0]) == length:
                return fields[0]
    raise InputError(where, f"no {source.algorithm} entry for {source.dump_name}",
                     "check corpus.dump_date (the dump may still be in progress) or switch corpus.checksum")


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def verify_dump(part: Path, out: Path, expected: str, algorithm: str) -> None:
    """Check the bzip2 signature and the digest of ``part``; delete it and raise on any mismatch."""
    with open(part, "rb") as handle:
        head = handle.read(10)
    if not BZIP2_MAGIC.match(head):
        part.unlink()
        raise InputError(out, f"the download is not a bzip2 file (it starts with {head!r}, likely an HTML error page)",
                         "deleted it; check the mirror in a browser, or set corpus.mirror to another mirror, and rerun")
    actual = file_digest(part, algorithm)
    if actual != expected:
        part.unlink()
        raise InputError(out, f"{algorithm} mismatch: expected {expected}, got {actual}",
                         "deleted the corrupt download; rerun to fetch it again (or try another corpus.mirror)")


def download_dump(source: DumpSource, out: Path, checksums_out: Path, *, timeout: float = 60.0,
                  attempts: int = 3, retry_wait: float = 5.0) -> str:
    """Fetch ``source``'s dump to ``out`` and its checksum list to ``checksums_out``; return the digest.

    Network failures half-way are retried ``attempts`` times, each resuming the ``.part`` file.
    """
    checksums_url = source.url(source.checksums_name)
    checksums = fetch_text(checksums_url, timeout)
    expected = expected_digest(checksums, source, checksums_url)
    part = out.with_name(out.name + ".part")
    out.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, attempts + 1):
        try:
            fetch_resumable(source.url(source.dump_name), part, timeout)
            break
        except TransferInterrupted as error:
            if attempt == attempts:
                raise
            print(f"{error} (attempt {attempt}/{attempts}); resuming", file=sys.stderr)
            time.sleep(retry_wait * attempt)
    verify_dump(part, out, expected, source.algorithm)
    write_text(checksums_out, checksums)
    os.replace(part, out)
    return expected


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="langtickets download", description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirror", required=True, help="https base URL, e.g. https://dumps.wikimedia.org")
    parser.add_argument("--wiki", required=True, help="database prefix without 'wiki' (en, fo, zh_yue)")
    parser.add_argument("--date", required=True, help="dump date YYYYMMDD or 'latest'")
    parser.add_argument("--algorithm", choices=["sha1", "md5"], default="sha1")
    parser.add_argument("--out", type=Path, required=True, help="the .xml.bz2 to write")
    parser.add_argument("--checksums-out", type=Path, required=True, help="where to save the checksum list")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds without data before giving up")
    parser.add_argument("--attempts", type=int, default=3, help="tries per run, each resuming the .part file")
    parser.add_argument("--allow-loopback-http", action="store_true",
                        help="accept http://127.0.0.1 / localhost mirrors (for tests only)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    validate_dump_name(args.wiki, args.date)
    mirror = validate_mirror(args.mirror, args.allow_loopback_http)
    source = DumpSource(mirror, args.wiki, args.date, args.algorithm)
    digest = download_dump(source, args.out, args.checksums_out, timeout=args.timeout, attempts=max(1, args.attempts))
    size_mb = args.out.stat().st_size / 1e6
    summary("download", started, dump=args.out, mb=f"{size_mb:.1f}", **{args.algorithm: digest})
    return 0
