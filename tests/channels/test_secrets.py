"""Sealing at rest: AES-GCM round trip, the key id in the sealed value, a wrong key refused clearly (never
echoing the key), a value moved to another field refused, rotation through RECALL_SECRET_KEY_OLD."""
from __future__ import annotations

import base64
import os
import stat

import pytest

from engine.channels.secrets import Keyring, SecretError, key_file_path, key_id, keyring
from engine.config import Settings
from tests.channels.scripted import new_key


def _ring(key: str, old: str | None = None) -> Keyring:
    return keyring(Settings(secret_key=key, secret_key_old=old))


def test_a_sealed_value_round_trips_names_its_key_and_hides_the_text():
    key = new_key()
    ring = _ring(key)
    sealed = ring.seal("s3cret-app-secret-值", context="wecom.corp_secret")
    assert sealed.startswith(f"sealed:v1:{ring.current_id}:") and "s3cret" not in sealed
    assert ring.unseal(sealed, context="wecom.corp_secret") == "s3cret-app-secret-值"
    assert ring.seal("x") != ring.seal("x")             # a fresh nonce each time


def test_a_wrong_key_is_refused_naming_the_key_id_not_the_key():
    sealed = _ring(new_key()).seal("pw")
    other_key = new_key()
    with pytest.raises(SecretError) as caught:
        _ring(other_key).unseal(sealed)
    message = str(caught.value)
    assert sealed.split(":")[2] in message and "RECALL_SECRET_KEY_OLD" in message and other_key not in message


def test_a_value_copied_to_another_field_or_damaged_does_not_open():
    ring = _ring(new_key())
    sealed = ring.seal("pw", context="email.smtp_password")
    with pytest.raises(SecretError, match="does not open"):
        ring.unseal(sealed, context="wecom.corp_secret")
    damaged = sealed[:-6] + ("A" if sealed[-6] != "A" else "B") + sealed[-5:]
    with pytest.raises(SecretError):
        ring.unseal(damaged, context="email.smtp_password")


def test_rotation_old_keys_still_unseal_and_reseal_moves_to_the_new_key():
    old, new = new_key(), new_key()
    sealed_old = _ring(old).seal("pw", context="c")
    both = _ring(new, old=f" {old} ,")
    assert both.unseal(sealed_old, context="c") == "pw"
    assert both.needs_reseal(sealed_old)
    resealed = both.reseal(sealed_old, context="c")
    assert not both.needs_reseal(resealed) and resealed.split(":")[2] == key_id(both.current)
    assert _ring(new).unseal(resealed, context="c") == "pw"


def test_a_bad_key_setting_is_refused_without_printing_it():
    with pytest.raises(ValueError) as caught:
        Settings.from_env({"RECALL_SECRET_KEY": "not-a-key-at-all"})
    assert "not-a-key-at-all" not in str(caught.value) and "RECALL_SECRET_KEY=<hidden>" in str(caught.value)
    assert "secret_key" not in repr(Settings(secret_key=new_key())).replace("secret_key_old", "")


def test_without_a_key_a_0600_key_file_is_made_beside_the_sqlite_file_and_reused(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'db' / 'r.sqlite3'}")
    path = key_file_path(settings)
    assert path == (tmp_path / "db" / "recall-secret.key")
    sealed = keyring(settings).seal("pw")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert keyring(Settings(secret_key=path.read_text().strip())).unseal(sealed) == "pw"
    in_dir = Settings(data_dir=tmp_path / "data")
    assert key_file_path(in_dir) == tmp_path / "data" / "recall-secret.key"


def test_recall_secrets_rotate_reseals_the_stored_settings_with_the_new_key(database_url, scripted):
    from click.testing import CliRunner
    from sqlalchemy import select

    from cli import main
    from engine.channels import settings as channel_settings
    from engine.channels.models import ChannelSettings
    from engine.db import Database
    from engine.service import RecallEngine
    from tests.channels.scripted import TEST_CHANNEL

    old, new = new_key(), new_key()
    engine = RecallEngine(Database(database_url), settings=Settings(secret_key=old))
    with engine.db.write_transaction() as s:
        channel_settings.install(engine)
        channel_settings.save(s, TEST_CHANNEL, {"host": "h", "user": "u", "password": "pw-123"}, actor="root",
                              now=engine.clock.now())
    result = CliRunner().invoke(main, ["secrets", "rotate"], env={
        "RECALL_DATABASE_URL": database_url, "RECALL_SECRET_KEY": new, "RECALL_SECRET_KEY_OLD": old})
    assert result.exit_code == 0, result.output
    assert f"re-sealed 1 secret(s) with key {key_id(base64.b64decode(new))}" in result.output
    with engine.db.read_transaction() as s:
        sealed = s.scalar(select(ChannelSettings.values))["password"]
    assert keyring(Settings(secret_key=new)).unseal(sealed, context=f"{TEST_CHANNEL}.password") == "pw-123"
    engine.db.dispose()
