"""What arrives at WeCom's callback URL (`/channels/wecom/callback`): the URL check when an admin saves the
URL in WeCom's console, and events, each verified (msg_signature) and decrypted with the company's
callback token and EncodingAESKey (engine/channels/wecom_crypto.py) before anything is read from it.

A request that fails verification changes nothing and is audited `wecom_callback_refused` with the
step that failed and the caller's address — never its payload.
"""
from __future__ import annotations

import logging

from .wecom import client_for, load_settings
from .wecom_contacts import handle_event
from .wecom_crypto import WeComCrypto, WeComCryptoError, parse_message

log = logging.getLogger("recall.channels.wecom")


def _crypto(engine) -> WeComCrypto:
    values = load_settings(engine)
    if not values.get("callback_token") or not values.get("encoding_aes_key"):
        raise WeComCryptoError("not_configured", "the WeCom callback token and EncodingAESKey are not set")
    return WeComCrypto(values["callback_token"], values["encoding_aes_key"], str(values["corp_id"]))


def verify_url(engine, *, msg_signature: str, timestamp: str, nonce: str, echostr: str, address: str | None) -> str:
    """The echostr's plaintext, to answer WeCom's URL check; WeComCryptoError (audited) when it fails."""
    try:
        return _crypto(engine).verify_url(msg_signature, timestamp, nonce, echostr)
    except WeComCryptoError as error:
        refused(engine, error, address=address, step="url_check")
        raise


def receive(engine, *, msg_signature: str, timestamp: str, nonce: str, body: bytes, address: str | None) -> str:
    """Verify, decrypt and apply one event; what happened (a short code). WeComCryptoError (audited)
    when it fails verification; a ChannelError when WeCom's API could not be asked (WeCom retries)."""
    try:
        event = parse_message(_crypto(engine).open(msg_signature, timestamp, nonce, body))
    except WeComCryptoError as error:
        refused(engine, error, address=address, step="event")
        raise
    outcome = handle_event(engine, client_for(engine), event)
    log.info("WeCom event %s/%s: %s", event.get("Event"), event.get("ChangeType"), outcome)
    return outcome


def refused(engine, error: WeComCryptoError, *, address: str | None, step: str) -> None:
    with engine.db.write_transaction() as s:
        engine.ops.audit(s, None, "wecom_callback_refused", "channel:wecom", None, None,
                         {"reason": error.reason, "step": step, "address": address})
