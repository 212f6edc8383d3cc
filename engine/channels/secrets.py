"""Sealing secrets at rest (channel settings' passwords and app secrets): AES-256-GCM.

    keys = keyring(engine.settings)
    sealed = keys.seal("the app secret", context="wecom.corp_secret")   # "sealed:v1:<key id>:<base64>"
    keys.unseal(sealed, context="wecom.corp_secret")                     # "the app secret"

The key is RECALL_SECRET_KEY (base64 of 32 random bytes). When it is unset, a key file is made on first
use (mode 0600) in RECALL_DATA_DIR, else next to the SQLite database file, else in `var/`: fine for
one machine; several machines (PostgreSQL) must share RECALL_SECRET_KEY. A sealed value names the id
of its key (the first 8 hex digits of the key's SHA-256), so keys can be rotated without downtime:

1. set the new key as RECALL_SECRET_KEY and the old one in RECALL_SECRET_KEY_OLD (comma-separated),
   restart: values sealed with either key unseal, new ones are sealed with the new key;
2. `recall secrets rotate` re-seals every stored secret with the new key;
3. drop the old key from RECALL_SECRET_KEY_OLD.

`context` (the channel and field) is bound to the ciphertext as associated data: a sealed value copied
into another field does not unseal there. Nothing here ever puts a key or a plain value in an error.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import make_url

from engine.errors import RecallError

log = logging.getLogger("recall.secrets")

PREFIX = "sealed:v1:"
KEY_FILE = "recall-secret.key"
NONCE_BYTES = 12


class SecretError(RecallError):
    """A sealed value cannot be unsealed (unknown key, wrong key, damaged) or no key can be had."""


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def _decode_key(text: str, what: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise SecretError(f"{what} is not base64 of 32 bytes")
    return key


def is_sealed(value) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


@dataclass(frozen=True)
class Keyring:
    """The current key (seals) and the old ones (still unseal)."""

    current: bytes
    old: tuple[bytes, ...] = ()

    @property
    def current_id(self) -> str:
        return key_id(self.current)

    def _key(self, kid: str) -> bytes | None:
        return next((k for k in (self.current, *self.old) if key_id(k) == kid), None)

    def seal(self, value: str, *, context: str = "") -> str:
        """`value` encrypted with the current key: "sealed:v1:<key id>:<base64 of nonce + ciphertext>"."""
        if not isinstance(value, str):
            raise TypeError("only text is sealed")
        nonce = os.urandom(NONCE_BYTES)
        kid = self.current_id
        body = AESGCM(self.current).encrypt(nonce, value.encode("utf-8"), _aad(kid, context))
        return f"{PREFIX}{kid}:{base64.b64encode(nonce + body).decode('ascii')}"

    def unseal(self, sealed: str, *, context: str = "") -> str:
        """The plain value; SecretError naming the key id when no key of this ring opens it."""
        if not is_sealed(sealed):
            raise SecretError("not a sealed value")
        kid, _, data = sealed[len(PREFIX):].partition(":")
        key = self._key(kid)
        if key is None:
            raise SecretError(f"sealed with key {kid}, which is neither RECALL_SECRET_KEY ({self.current_id}) nor "
                              f"in RECALL_SECRET_KEY_OLD: set the key it was sealed with")
        try:
            raw = base64.b64decode(data, validate=True)
            return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(kid, context)).decode("utf-8")
        except (binascii.Error, ValueError, InvalidTag):
            raise SecretError(f"a value sealed with key {kid} does not open: damaged, or not sealed for "
                              f"{context or 'this place'}") from None

    def needs_reseal(self, sealed: str) -> bool:
        """Sealed with an old key (rotation re-seals it with the current one)."""
        return is_sealed(sealed) and not sealed.startswith(f"{PREFIX}{self.current_id}:")

    def reseal(self, sealed: str, *, context: str = "") -> str:
        return self.seal(self.unseal(sealed, context=context), context=context) if self.needs_reseal(sealed) else sealed


def _aad(kid: str, context: str) -> bytes:
    return f"recall-sealed-v1|{kid}|{context}".encode("utf-8")


# ---------------------------------------------------------------- where the key comes from
def key_file_path(settings, database_url=None) -> Path:
    """RECALL_DATA_DIR/recall-secret.key, else beside the SQLite file, else var/recall-secret.key."""
    if settings.data_dir is not None:
        return Path(settings.data_dir) / KEY_FILE
    url = make_url(str(database_url or settings.database_url))
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).resolve().parent / KEY_FILE
    return Path("var") / KEY_FILE


def _file_key(path: Path) -> bytes:
    """The key in `path`, made (0600, exclusively: two processes starting together agree) when missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):         # another process made it a moment ago and is writing it
            text = path.read_text(encoding="ascii").strip()
            if text:
                return _decode_key(text, f"the key file {path}")
            time.sleep(0.02)
        raise SecretError(f"the key file {path} is empty: delete it only if nothing was sealed with it") from None
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(base64.b64encode(os.urandom(32)).decode("ascii") + "\n")
    log.warning("made a new secret key file %s (set RECALL_SECRET_KEY to share one key between machines)", path)
    return _file_key(path)


_rings: dict[tuple, Keyring] = {}
_rings_lock = threading.Lock()


def keyring(settings, database_url=None) -> Keyring:
    """The keyring `settings` describe (cached per key configuration); `database_url` (default the
    settings') places the key file when RECALL_SECRET_KEY is unset."""
    file = None if settings.secret_key else key_file_path(settings, database_url)
    cache_key = (settings.secret_key, settings.secret_key_old, str(file))
    with _rings_lock:
        ring = _rings.get(cache_key)
        if ring is None:
            current = (_decode_key(settings.secret_key, "RECALL_SECRET_KEY") if settings.secret_key
                       else _file_key(file))
            old = tuple(_decode_key(k, "a key of RECALL_SECRET_KEY_OLD")
                        for k in (settings.secret_key_old or "").split(",") if k.strip())
            ring = _rings[cache_key] = Keyring(current, old)
        return ring


def engine_keyring(engine) -> Keyring:
    """The keyring of an engine (its settings, its database for the key file's place)."""
    return keyring(engine.settings, engine.db.engine.url)


# ---------------------------------------------------------------- rotation
# Each place that stores sealed values registers how to re-seal them: fn(session, keyring) -> count.
Resealer = Callable[[object, Keyring], int]
RESEALERS: list[Resealer] = []


def register_resealer(fn: Resealer) -> None:
    if fn not in RESEALERS:
        RESEALERS.append(fn)


def rotate(engine) -> int:
    """Re-seal every stored secret with the current key (one unit of work); the number re-sealed."""
    ring = engine_keyring(engine)
    with engine.db.write_transaction() as s:
        count = sum(fn(s, ring) for fn in RESEALERS)
        engine.ops.audit(s, None, "secrets_rotated", "cli", details={"key_id": ring.current_id, "resealed": count})
    return count
