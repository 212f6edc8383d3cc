"""gzip for JSON and text answers, on every route (API and workspace), when the client accepts it.

A cold workspace load on a slow phone link is mostly bytes: the JS modules, the CSS and the
JSON of the inbox compress 3–5×. Only the Python standard library (gzip) is used; brotli
would save a little more on the static files but needs a native package.

Rules (each kept by tests/http/test_compression.py over a real server):
- only 200 answers of a text type (JSON, problem+json, JS, CSS, HTML, XML, SVG, plain text)
  of at least MIN_BYTES, to a request whose Accept-Encoding accepts gzip (q > 0), and not an
  answer that is already encoded, streamed (a generator) or marked `no-transform`;
- such an answer (compressed or not) says `Vary: Accept-Encoding`, so a cache keeps both;
- the compressed representation has other bytes, so a strong ETag becomes weak (`W/"…"`): an
  If-None-Match with it still matches (weak comparison, werkzeug's 304), and the API's If-Match
  accepts `W/"v3"` (api/etags.py); a 304 to a client holding the weak one says the weak one;
- a static file is read whole (they are small) and its gzip is kept by content, so the same
  file is compressed once per process.
"""
from __future__ import annotations

import gzip
from functools import lru_cache

from flask import request

MIN_BYTES = 1024
LEVEL = 6
TEXT_TYPES = frozenset({
    "application/json", "application/problem+json", "application/javascript", "text/javascript",
    "text/css", "text/html", "text/plain", "text/xml", "application/xml", "image/svg+xml",
})


def _accepts_gzip() -> bool:
    return request.accept_encodings["gzip"] > 0 or (
        "gzip" not in request.accept_encodings and request.accept_encodings["*"] > 0)


@lru_cache(maxsize=128)
def _gzip_static(body: bytes) -> bytes:
    """A static file's gzip, keyed by its content: an edited file is compressed afresh."""
    return gzip.compress(body, LEVEL, mtime=0)


def compress(response):
    """Flask after_request hook: the gzip representation of `response` where the rules allow it."""
    if request.method not in ("GET", "HEAD") or response.mimetype not in TEXT_TYPES:
        return response
    if response.status_code == 304:
        _weak_etag_for_weak_holder(response)
        return response
    if (response.status_code != 200 or "Content-Encoding" in response.headers
            or "no-transform" in (response.headers.get("Cache-Control") or "")):
        return response
    static_file = response.direct_passthrough
    if response.is_streamed and not static_file:
        return response
    length = response.content_length
    if length is not None and length < MIN_BYTES:
        return response
    response.vary.add("Accept-Encoding")
    if not _accepts_gzip():
        return response
    response.direct_passthrough = False
    body = response.get_data()
    if len(body) < MIN_BYTES:
        return response
    etag, weak = response.get_etag()
    response.set_data(_gzip_static(body) if static_file else gzip.compress(body, LEVEL, mtime=0))
    response.headers["Content-Encoding"] = "gzip"
    response.headers.pop("Accept-Ranges", None)     # byte ranges of the identity file do not apply
    if etag and not weak:
        response.set_etag(etag, weak=True)
    return response


def _weak_etag_for_weak_holder(response) -> None:
    """A 304 confirms the representation the client holds: if it holds the gzip one, say its (weak) ETag."""
    etag, weak = response.get_etag()
    if etag and not weak and request.if_none_match.is_weak(etag) and not request.if_none_match.is_strong(etag):
        response.set_etag(etag, weak=True)
        response.vary.add("Accept-Encoding")
