"""A keyring mounted from a secret store: read-only, and updated by swapping a symlink (what a
Kubernetes Secret volume does). Loading must write nothing beside it, and a running process
must take the rotated keyring from the swapped file."""

from __future__ import annotations

import os
from pathlib import Path

from shared.keys import Keyring, load_keyring


def _secret_volume(root: Path, keyring: Keyring, version: str) -> None:
    """The layout of a Secret volume: keyring.json -> ..data/keyring.json, ..data -> version."""
    data = root / version
    data.mkdir()
    (data / "keyring.json").write_text(keyring.to_json())
    tmp = root / "..data_tmp"
    tmp.symlink_to(version)
    os.replace(tmp, root / "..data")
    if not (root / "keyring.json").is_symlink():
        (root / "keyring.json").symlink_to("..data/keyring.json")


def test_loading_an_existing_keyring_writes_nothing_beside_it(tmp_path: Path) -> None:
    _secret_volume(tmp_path, Keyring.generate(), "v1")
    before = sorted(p.name for p in tmp_path.iterdir())

    keyring = load_keyring(tmp_path / "keyring.json", env={})
    keyring.newest()

    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no .lock, no .tmp


def test_a_swapped_secret_volume_is_picked_up_without_a_restart(tmp_path: Path) -> None:
    first = Keyring.generate()
    _secret_volume(tmp_path, first, "v1")
    keyring = load_keyring(tmp_path / "keyring.json", env={})
    assert keyring.active_signing.kid == first.active_signing.kid

    rotated = first.with_new_signing_key()
    _secret_volume(tmp_path, rotated, "v2")

    assert keyring.newest().active_signing.kid == rotated.active_signing.kid
    assert keyring.newest().active_signing.kid != first.active_signing.kid
