"""``lupa keys``: the command line rotates, shows and retires keys, printing ids, never material."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from lupa.cli.main import main
from shared.keys import Keyring, b64u, load_keyring


@pytest.fixture
def keyring_file(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "keyring.json"
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LUPA_KEYS_FILE", str(path))
    monkeypatch.delenv("LUPA_KEYRING", raising=False)
    load_keyring(path)
    return path


def secrets_of(keyring: Keyring) -> list[str]:
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    raw = [
        *keyring.keks.values(),
        keyring.index_key,
        keyring.evidence_key,
        keyring.suppression_key,
        *(
            k.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
            for k in keyring.signing
        ),
    ]
    return [form for key in raw for form in (b64u(key), base64.b64encode(key).decode(), key.hex())]


def test_rotate_then_show_lists_both_keks_and_no_key_material(keyring_file, capsys):
    first = Keyring.from_json(keyring_file.read_text())
    assert main(["keys", "rotate"]) == 0
    assert main(["keys", "rotate", "--signing"]) == 0
    assert main(["keys", "show"]) == 0
    out = capsys.readouterr().out
    rotated = Keyring.from_json(keyring_file.read_text())
    assert rotated.active_kek_id != first.active_kek_id
    assert f"active KEK: {rotated.active_kek_id}" in out
    assert f"{first.active_kek_id}: 0" in out
    assert "webhook secrets sealed by each KEK:" in out
    assert all(k.kid in out for k in rotated.signing) and len(rotated.signing) == 2
    assert not [s for s in secrets_of(rotated) if s in out]


def test_rotate_signing_says_running_services_need_no_restart(keyring_file, capsys):
    assert main(["keys", "rotate", "--signing"]) == 0
    out = capsys.readouterr().out
    kid = Keyring.from_json(keyring_file.read_text()).active_signing.kid
    assert f"new signing key {kid} saved to {keyring_file}" in out
    assert "from their next request (no restart)" in out
    assert "restart the services so they sign" not in out


def test_retire_refuses_the_active_key_and_removes_an_unused_one(keyring_file, capsys):
    first = Keyring.from_json(keyring_file.read_text())
    with pytest.raises(SystemExit, match="active"):
        main(["keys", "retire", first.active_kek_id])
    assert main(["keys", "rotate"]) == 0
    assert main(["keys", "retire", first.active_kek_id]) == 0
    assert first.active_kek_id not in Keyring.from_json(keyring_file.read_text()).keks


def test_rotation_refuses_a_keyring_given_by_environment(keyring_file, monkeypatch):
    monkeypatch.setenv("LUPA_KEYRING", keyring_file.read_text())
    with pytest.raises(SystemExit, match="LUPA_KEYRING is set"):
        main(["keys", "rotate"])
