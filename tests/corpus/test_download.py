"""download: resumable fetch from a loopback mirror serving a real minidump, verified by checksum."""

from __future__ import annotations

import hashlib
import http.server
import re
import threading
from pathlib import Path

import pytest

from langtickets.cli import main as cli_main
from langtickets.corpus.download import (
    DumpSource,
    download_dump,
    expected_digest,
    validate_dump_name,
    validate_mirror,
)
from langtickets.errors import ConfigError, InputError

DUMP_NAME = "fowiki-20240101-pages-articles.xml.bz2"


class Mirror(http.server.ThreadingHTTPServer):
    """A loopback dump mirror: ``files`` maps URL paths to bytes; it records each request's headers."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), MirrorHandler)
        self.files: dict[str, bytes] = {}
        self.content_types: dict[str, str] = {}
        self.cut_once: set[str] = set()  # paths whose first answer stops half-way
        self.requests: list[tuple[str, dict[str, str]]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class MirrorHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        server: Mirror = self.server
        server.requests.append((self.path, dict(self.headers)))
        body = server.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if match:
            start = int(match.group(1))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", server.content_types.get(self.path, "application/octet-stream"))
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if self.path in server.cut_once:
            server.cut_once.discard(self.path)
            self.wfile.write(body[start : start + (len(body) - start) // 2])
            self.close_connection = True
            return
        self.wfile.write(body[start:])


@pytest.fixture
def mirror(shared_data):
    server = Mirror()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    dump = (shared_data / "wikipedia" / "minidumps" / "fowiki-minidump.xml.bz2").read_bytes()
    sha1 = hashlib.sha1(dump).hexdigest()
    server.files["/fowiki/20240101/" + DUMP_NAME] = dump
    server.files["/fowiki/20240101/fowiki-20240101-sha1sums.txt"] = (
        f"{'0' * 40}  fowiki-20240101-stub-articles.xml.gz\n{sha1}  {DUMP_NAME}\n"
    ).encode()
    yield server
    server.shutdown()
    server.server_close()


def _cli(mirror: Mirror, out: Path) -> int:
    return cli_main([
        "download", "--mirror", mirror.url, "--wiki", "fo", "--date", "20240101", "--algorithm", "sha1",
        "--out", str(out), "--checksums-out", str(out.with_name("checksums.txt")), "--allow-loopback-http",
    ])


def test_downloads_and_verifies_dump(mirror, tmp_path):
    out = tmp_path / "dumps" / DUMP_NAME
    assert _cli(mirror, out) == 0
    assert out.read_bytes() == mirror.files["/fowiki/20240101/" + DUMP_NAME]
    assert DUMP_NAME in (tmp_path / "dumps" / "checksums.txt").read_text()
    assert not out.with_name(DUMP_NAME + ".part").exists()


def test_resumes_partial_download_with_range_request(mirror, tmp_path):
    dump = mirror.files["/fowiki/20240101/" + DUMP_NAME]
    out = tmp_path / DUMP_NAME
    out.with_name(DUMP_NAME + ".part").write_bytes(dump[:1000])
    assert _cli(mirror, out) == 0
    assert out.read_bytes() == dump
    ranges = [headers.get("Range") for path, headers in mirror.requests if path.endswith(DUMP_NAME)]
    assert ranges == ["bytes=1000-"]


def test_retries_a_dropped_connection_by_resuming(mirror, tmp_path):
    path = "/fowiki/20240101/" + DUMP_NAME
    mirror.cut_once.add(path)
    source = DumpSource(mirror.url, "fo", "20240101", "sha1")
    out = tmp_path / DUMP_NAME
    download_dump(source, out, tmp_path / "sums.txt", timeout=10, attempts=2, retry_wait=0)
    assert out.read_bytes() == mirror.files[path]
    ranges = [headers.get("Range") for got, headers in mirror.requests if got == path]
    assert ranges[0] is None and ranges[1] == f"bytes={len(mirror.files[path]) // 2}-"


def test_checksum_mismatch_deletes_file_and_names_both_digests(mirror, tmp_path, capsys):
    path = "/fowiki/20240101/" + DUMP_NAME
    good = mirror.files[path]
    mirror.files[path] = good[:500] + bytes([good[500] ^ 0xFF]) + good[501:]
    out = tmp_path / DUMP_NAME
    assert _cli(mirror, out) == 2
    message = capsys.readouterr().err
    assert "sha1 mismatch" in message and hashlib.sha1(good).hexdigest() in message
    assert hashlib.sha1(mirror.files[path]).hexdigest() in message and "rerun" in message
    assert not out.exists() and not out.with_name(DUMP_NAME + ".part").exists()


def test_missing_dump_is_a_clear_404(mirror, tmp_path, capsys):
    del mirror.files["/fowiki/20240101/" + DUMP_NAME]
    assert _cli(mirror, tmp_path / DUMP_NAME) == 2
    message = capsys.readouterr().err
    assert "HTTP 404" in message and "dump date" in message
    assert not (tmp_path / DUMP_NAME).exists()


@pytest.mark.parametrize("content_type", ["text/html", "application/octet-stream"])
def test_html_error_page_is_not_taken_for_a_dump(mirror, tmp_path, capsys, content_type):
    path = "/fowiki/20240101/" + DUMP_NAME
    mirror.files[path] = b"<!DOCTYPE html><html><body>Service unavailable</body></html>"
    mirror.content_types[path] = content_type
    out = tmp_path / DUMP_NAME
    assert _cli(mirror, out) == 2
    assert "HTML" in capsys.readouterr().err
    assert not out.exists() and not out.with_name(DUMP_NAME + ".part").exists()


@pytest.mark.parametrize("mirror_url", ["http://dumps.wikimedia.org", "ftp://127.0.0.1", "https://x.org/?q=1"])
def test_only_https_mirrors_are_allowed(mirror_url):
    with pytest.raises(ConfigError, match="corpus.mirror"):
        validate_mirror(mirror_url, allow_loopback_http=True)


def test_loopback_http_needs_the_explicit_switch():
    with pytest.raises(ConfigError, match="not https"):
        validate_mirror("http://127.0.0.1:8000")
    assert validate_mirror("http://127.0.0.1:8000/", allow_loopback_http=True) == "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    ("wiki", "date"), [("en/../x", "20240101"), ("fo", "2024-01-01"), ("fo", "20241301"), ("E", "latest")]
)
def test_wiki_and_date_are_validated_before_any_url(wiki, date):
    with pytest.raises(ConfigError):
        validate_dump_name(wiki, date)


def test_latest_checksum_list_may_name_the_dated_file():
    source = DumpSource("https://m", "fo", "latest", "md5")
    listing = f"{'a' * 32}  fowiki-20240101-pages-articles.xml.bz2\n"
    assert expected_digest(listing, source, "sums") == "a" * 32
    with pytest.raises(InputError, match="no md5 entry"):
        expected_digest(f"{'a' * 40}  fowiki-20240101-pages-articles.xml.bz2\n", source, "sums")
