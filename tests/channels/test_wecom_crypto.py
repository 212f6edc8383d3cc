"""WeCom's callback crypto (engine/channels/wecom_crypto.py) against Tencent's published sample, and
the ways a callback can be wrong: tampered, signed with another token, encrypted for another corp id."""
from __future__ import annotations

import base64

import pytest

from engine.channels.wecom_crypto import WeComCrypto, WeComCryptoError, aes_key, parse_message, signature

# Tencent's WXBizMsgCrypt sample for WeCom (企业微信): sbzhu/weworkapi_python, callback/Sample.py
# (the official SDK's sample; the same values are in its callback_python3 and C++/Java/PHP samples).
TOKEN = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"
AES_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
CORP_ID = "ww1436e0e65a779aee"
VERIFY = {"msg_signature": "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb", "timestamp": "1476416373",
          "nonce": "47744683",
          "echostr": "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA=="}
REQUEST = {"msg_signature": "0c3914025cb4b4d68103f6bfc8db550f79dcf48e", "timestamp": "1476422779",
           "nonce": "1597212914"}
REQUEST_BODY = (
    "<xml><ToUserName><![CDATA[ww1436e0e65a779aee]]></ToUserName>\n<Encrypt><![CDATA["
    "Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3NyeTkAgGzBhzTtRLNshw2AEew+kk"
    "YcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0VJPQbZ9U+3JWcoD4Z5jaU0y9GSh010wsHF8KZD24YhmZH4ch"
    "4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ7MhmEbU2qARR4iQHE7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwocugux08"
    "2f49HKYg84EpHSGXAyh+/oxwaWbvL6aSDPOYuPDGOCI8jmnKiypE+]]></Encrypt>\n<AgentID><![CDATA[1000002]]></AgentID>\n</xml>")

SAMPLE = WeComCrypto(TOKEN, AES_KEY, CORP_ID)


def test_the_published_url_check_answers_its_echo():
    """Tencent's sample (callback/Sample.py, "验证回调URL"): the signature verifies and the echostr
    decrypts to 1288432023552776189 with the corp id as receive id."""
    assert SAMPLE.verify_url(**VERIFY) == "1288432023552776189"


def test_the_published_message_verifies_and_decrypts():
    """Tencent's sample ("解密用户的回复"): the POST's signature and the text message inside it."""
    message = parse_message(SAMPLE.open(REQUEST["msg_signature"], REQUEST["timestamp"], REQUEST["nonce"],
                                        REQUEST_BODY))
    assert message == {"ToUserName": CORP_ID, "FromUserName": "ChenJiaShun", "CreateTime": "1476422779",
                       "MsgType": "text", "Content": "你好", "MsgId": "1456453720", "AgentID": "1000002"}


def test_our_encryption_is_what_the_sample_decrypts_from():
    """With the sample's random prefix, encrypting the sample's plaintext gives its ciphertext byte for byte."""
    from engine.channels.wecom_crypto import encrypted_field
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    encrypt = encrypted_field(REQUEST_BODY)
    key = aes_key(AES_KEY)
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    prefix = (decryptor.update(base64.b64decode(encrypt)) + decryptor.finalize())[:16]
    assert SAMPLE.encrypt(SAMPLE.decrypt(encrypt), random_prefix=prefix) == encrypt
    assert signature(TOKEN, REQUEST["timestamp"], REQUEST["nonce"], encrypt) == REQUEST["msg_signature"]


def test_round_trip_of_a_chinese_message_of_every_padding_length():
    crypto = WeComCrypto("tok", AES_KEY, "ww0123456789")
    for n in range(0, 70):
        message = "客" * n
        assert crypto.decrypt(crypto.encrypt(message)).decode("utf-8") == message
    a, b = crypto.encrypt("same"), crypto.encrypt("same")
    assert a != b                                  # a fresh random prefix each time


@pytest.mark.parametrize("change", ["msg_signature", "timestamp", "nonce", "echostr"])
def test_a_tampered_url_check_is_refused_as_a_signature_failure(change):
    values = dict(VERIFY)
    values[change] = ("9" if change != "echostr" else "A") + values[change][1:]
    assert values[change] != VERIFY[change]
    with pytest.raises(WeComCryptoError) as refused:
        SAMPLE.verify_url(**values)
    assert refused.value.reason == "signature"
    assert TOKEN not in str(refused.value) and AES_KEY not in str(refused.value)


def test_another_token_is_refused():
    with pytest.raises(WeComCryptoError) as refused:
        WeComCrypto("another-token", AES_KEY, CORP_ID).verify_url(**VERIFY)
    assert refused.value.reason == "signature"


def test_a_payload_for_another_corp_id_is_refused_as_such():
    with pytest.raises(WeComCryptoError) as refused:
        WeComCrypto(TOKEN, AES_KEY, "ww-other-corp").verify_url(**VERIFY)
    assert refused.value.reason == "receive_id" and "corp id" in str(refused.value)


def test_another_aes_key_fails_on_padding_or_receive_id():
    other = WeComCrypto(TOKEN, "A" * 43, CORP_ID)
    with pytest.raises(WeComCryptoError) as refused:
        other.verify_url(**VERIFY)
    assert refused.value.reason in ("padding", "length", "receive_id")


@pytest.mark.parametrize("ciphertext, reason", [
    ("not base64 at all!", "base64"),
    (base64.b64encode(b"x" * 15).decode(), "length"),
])
def test_broken_ciphertexts_name_what_failed(ciphertext, reason):
    with pytest.raises(WeComCryptoError) as refused:
        SAMPLE.decrypt(ciphertext)
    assert refused.value.reason == reason


@pytest.mark.parametrize("key", ["short", "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhU", "!" * 43])
def test_a_wrong_encoding_aes_key_is_named(key):
    with pytest.raises(WeComCryptoError) as refused:
        aes_key(key)
    assert refused.value.reason == "key" and "EncodingAESKey" in str(refused.value)


def test_xml_with_entities_is_refused_before_parsing():
    body = '<!DOCTYPE x [<!ENTITY e "boom">]><xml><Encrypt>&e;</Encrypt></xml>'
    with pytest.raises(WeComCryptoError) as refused:
        SAMPLE.open("sig", "1", "2", body)
    assert refused.value.reason == "xml"


def test_seal_makes_what_open_reads():
    crypto = WeComCrypto("tok", AES_KEY, "ww0123456789")
    body, sig = crypto.seal("<xml><Event><![CDATA[change_external_contact]]></Event></xml>",
                            timestamp="1700000000", nonce="42")
    assert parse_message(crypto.open(sig, "1700000000", "42", body)) == {"Event": "change_external_contact"}
