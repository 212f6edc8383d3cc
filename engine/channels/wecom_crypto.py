"""WeCom's callback crypto (企业微信 "加解密方案", the WXBizMsgCrypt protocol), written from its description.

- signature: `msg_signature` = hex SHA-1 of the sorted strings [token, timestamp, nonce, encrypt] joined;
- key: `base64decode(EncodingAESKey + "=")`, 32 bytes (AES-256), the IV its first 16 bytes, CBC mode;
- plaintext: 16 random bytes + the message's length (4 bytes, big-endian) + the message + the receive id
  (the corp id for a company's own app), padded PKCS#7-style to a multiple of 32 bytes (not AES's 16);
- the URL check (GET with `echostr`): verify the signature over the echostr, answer its decryption.

Every failure raises `WeComCryptoError` whose `reason` names what failed ("signature", "base64",
"padding", "length", "receive_id", "key") — never the key, the token or the plaintext.
Checked against Tencent's published sample (tests/channels/test_wecom_crypto.py).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from dataclasses import dataclass
from xml.etree import ElementTree

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .registry import ChannelError

BLOCK = 32          # WeCom pads to 32-byte blocks
RANDOM_PREFIX = 16


class WeComCryptoError(ChannelError):
    """A callback that fails verification or decryption; `reason` says which step."""

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(message)


def signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """WeCom's msg_signature: SHA-1 over the four strings, sorted, joined."""
    return hashlib.sha1("".join(sorted([token, str(timestamp), str(nonce), encrypt])).encode("utf-8")).hexdigest()


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key an EncodingAESKey (43 characters of base64, no padding) stands for."""
    try:
        key = base64.b64decode((encoding_aes_key or "").strip() + "=", validate=True)
    except (binascii.Error, ValueError):
        raise WeComCryptoError("key", "the EncodingAESKey is not 43 characters of base64") from None
    if len(key) != 32:
        raise WeComCryptoError("key", f"the EncodingAESKey decodes to {len(key)} bytes, not 32 "
                                      "(it must be the 43 characters WeCom's console shows)")
    return key


@dataclass(frozen=True)
class WeComCrypto:
    """The crypto of one callback configuration: token, EncodingAESKey and receive id (the corp id)."""

    token: str
    encoding_aes_key: str
    receive_id: str

    @property
    def key(self) -> bytes:
        return aes_key(self.encoding_aes_key)

    def sign(self, timestamp: str, nonce: str, encrypt: str) -> str:
        return signature(self.token, timestamp, nonce, encrypt)

    def verify(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> None:
        """Raise WeComCryptoError("signature") unless `msg_signature` signs these values."""
        expected = self.sign(timestamp, nonce, encrypt)
        if not hmac.compare_digest(expected.encode(), (msg_signature or "").strip().lower().encode()):
            raise WeComCryptoError("signature", "the msg_signature does not match (wrong callback token, or the "
                                                "request was altered)")

    def encrypt(self, message: str | bytes, *, random_prefix: bytes | None = None) -> str:
        """The base64 ciphertext WeCom would send for `message` (random prefix: 16 bytes, fresh by default)."""
        body = message.encode("utf-8") if isinstance(message, str) else message
        prefix = random_prefix if random_prefix is not None else os.urandom(RANDOM_PREFIX)
        if len(prefix) != RANDOM_PREFIX:
            raise ValueError("the random prefix is 16 bytes")
        plain = prefix + struct.pack(">I", len(body)) + body + self.receive_id.encode("utf-8")
        pad = BLOCK - len(plain) % BLOCK
        plain += bytes([pad]) * pad
        key = self.key
        encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")

    def decrypt(self, encrypt: str) -> bytes:
        """The message inside `encrypt`, after checking its padding, length and receive id."""
        try:
            data = base64.b64decode(encrypt or "", validate=True)
        except (binascii.Error, ValueError):
            raise WeComCryptoError("base64", "the encrypted payload is not base64") from None
        if not data or len(data) % 16:
            raise WeComCryptoError("length", "the encrypted payload is not a whole number of AES blocks")
        key = self.key
        decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
        plain = decryptor.update(data) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise WeComCryptoError("padding", "the decrypted payload's padding is wrong (wrong EncodingAESKey?)")
        plain = plain[:-pad]
        if len(plain) < RANDOM_PREFIX + 4:
            raise WeComCryptoError("length", "the decrypted payload is too short")
        (length,) = struct.unpack(">I", plain[RANDOM_PREFIX:RANDOM_PREFIX + 4])
        start = RANDOM_PREFIX + 4
        if start + length > len(plain):
            raise WeComCryptoError("length", "the decrypted payload's length field is larger than the payload")
        message, receive_id = plain[start:start + length], plain[start + length:]
        if not hmac.compare_digest(receive_id, self.receive_id.encode("utf-8")):
            raise WeComCryptoError("receive_id", "the payload was encrypted for another corp id (receive id "
                                                 "mismatch: check the corp id setting)")
        return message

    def verify_url(self, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """The URL check WeCom makes when the callback is saved: the echostr's plaintext, to answer."""
        self.verify(msg_signature, timestamp, nonce, echostr)
        return self.decrypt(echostr).decode("utf-8")

    def open(self, msg_signature: str, timestamp: str, nonce: str, body: bytes | str) -> bytes:
        """A callback POST's message: the `<Encrypt>` of its XML body, verified and decrypted."""
        encrypt = encrypted_field(body)
        self.verify(msg_signature, timestamp, nonce, encrypt)
        return self.decrypt(encrypt)

    def seal(self, message: str, *, timestamp: str, nonce: str) -> tuple[str, str]:
        """(body, msg_signature) of a callback POST carrying `message`, as WeCom makes them."""
        encrypt = self.encrypt(message)
        body = (f"<xml><ToUserName><![CDATA[{self.receive_id}]]></ToUserName>"
                f"<Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>")
        return body, self.sign(timestamp, nonce, encrypt)


def _xml(data: bytes | str, what: str) -> ElementTree.Element:
    """`data` parsed; WeCom's XML has no DTD, so one (or an entity) is refused before parsing."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if b"<!DOCTYPE" in raw.upper() or b"<!ENTITY" in raw.upper():
        raise WeComCryptoError("xml", f"{what} declares a DTD or entities: refused")
    try:
        return ElementTree.fromstring(raw)
    except ElementTree.ParseError:
        raise WeComCryptoError("xml", f"{what} is not XML") from None


def encrypted_field(body: bytes | str) -> str:
    """The text of `<Encrypt>` in a callback's XML body."""
    node = _xml(body, "the callback body").find("Encrypt")
    if node is None or not (node.text or "").strip():
        raise WeComCryptoError("xml", "the callback body has no <Encrypt> element")
    return node.text.strip()


def parse_message(xml: bytes | str) -> dict[str, str]:
    """A decrypted callback message's top-level elements as {tag: text}."""
    return {child.tag: (child.text or "").strip() for child in _xml(xml, "the decrypted message")}
