"""The keyring: every secret a Lupa deployment holds, in one JSON document.

- ``signing``: Ed25519 keys for tokens, receipts, signed links and audit checkpoints. The
  newest is active; older ones stay published in the JWKS so what they signed still verifies.
- ``kek``: AES-256 key-encryption keys that wrap each subject's data key. Rotation adds one
  and rewraps; a retired id keeps unwrapping until no data key uses it.
- ``index`` / ``evidence`` / ``suppression``: HMAC keys for the blind index, for hashing IPs and
  user agents in consent evidence, and for the suppression list shared with senders.

Development keeps the keyring in ``.lupa/keys/keyring.json`` (created on first use, mode
0600). Production passes it in ``LUPA_KEYRING`` (the same JSON) from its secret store.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    x = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {"crv": "Ed25519", "kty": "OKP", "x": b64u(x)}


def jwk_thumbprint(jwk: Mapping[str, str]) -> str:
    """RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order."""
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x")}, separators=(",", ":"))
    return b64u(hashlib.sha256(canonical.encode()).digest())


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 key; what derives from it is computed once, as every signature needs it."""

    private_key: Ed25519PrivateKey
    created: str

    @cached_property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @cached_property
    def kid(self) -> str:
        return jwk_thumbprint(public_jwk(self.public_key))

    def jws_header_segment(self, typ: str) -> str:
        """The protected header of a compact JWS this key signs with header ``typ``,
        base64url-encoded: the JSON PyJWT writes (members sorted, no spaces). Computed once
        per ``typ``, as every signature needs it."""
        segment = self._header_segments.get(typ)
        if segment is None:
            header = {"alg": "EdDSA", "kid": self.kid, "typ": typ}
            segment = b64u(json.dumps(header, separators=(",", ":"), sort_keys=True).encode())
            self._header_segments[typ] = segment
        return segment

    @cached_property
    def _header_segments(self) -> dict[str, str]:
        return {}

    def jwk(self) -> dict[str, str]:
        return {**public_jwk(self.public_key), "kid": self.kid, "alg": "EdDSA", "use": "sig"}


@dataclass(frozen=True)
class Keyring:
    signing: tuple[SigningKey, ...]
    keks: Mapping[str, bytes]
    active_kek_id: str
    index_key: bytes
    evidence_key: bytes
    suppression_key: bytes
    retired_keks: frozenset[str] = field(default_factory=frozenset)
    # The file this keyring came from, so a long-running process can pick up a rotation.
    source: KeyringSource | None = field(default=None, compare=False, repr=False)

    @property
    def active_signing(self) -> SigningKey:
        return self.signing[-1]

    def signing_key(self, kid: str) -> SigningKey | None:
        return self._signing_by_kid.get(kid)

    @cached_property
    def _signing_by_kid(self) -> Mapping[str, SigningKey]:
        # Reversed, so that a key listed twice resolves to its first entry, as a scan would.
        return {k.kid: k for k in reversed(self.signing)}

    def kek(self, kek_id: str) -> bytes:
        try:
            return self.keks[kek_id]
        except KeyError:
            raise UnknownKey(f"key-encryption key {kek_id!r} is not in the keyring") from None

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [k.jwk() for k in self.signing]}

    def newest(self) -> Keyring:
        """The keyring as last saved to the file this one came from (re-read only when the
        file changed, a stat otherwise), so a running process sees a rotation made elsewhere;
        this keyring itself when it came from no file (``LUPA_KEYRING``)."""
        return self.source.reload() if self.source is not None else self

    # --- rotation -------------------------------------------------------------------

    def with_new_kek(self) -> Keyring:
        kek_id = f"kek-{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(2)}"
        keks = {**self.keks, kek_id: secrets.token_bytes(32)}
        return replace(self, keks=keks, active_kek_id=kek_id)

    def without_kek(self, kek_id: str) -> Keyring:
        if kek_id == self.active_kek_id:
            raise ValueError("the active key-encryption key cannot be removed")
        return replace(self, keks={k: v for k, v in self.keks.items() if k != kek_id})

    def with_new_signing_key(self) -> Keyring:
        return replace(self, signing=(*self.signing, _new_signing_key()))

    # --- (de)serialisation ----------------------------------------------------------

    def to_json(self) -> str:
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        doc = {
            "signing": [
                {
                    "private": b64u(
                        k.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
                    ),
                    "created": k.created,
                }
                for k in self.signing
            ],
            "kek": {kid: b64u(key) for kid, key in self.keks.items()},
            "active_kek": self.active_kek_id,
            "index": b64u(self.index_key),
            "evidence": b64u(self.evidence_key),
            "suppression": b64u(self.suppression_key),
        }
        return json.dumps(doc, indent=2)

    @classmethod
    def from_json(cls, text: str) -> Keyring:
        doc = json.loads(text)
        return cls(
            signing=tuple(
                SigningKey(Ed25519PrivateKey.from_private_bytes(unb64u(k["private"])), k["created"])
                for k in doc["signing"]
            ),
            keks={kid: unb64u(key) for kid, key in doc["kek"].items()},
            active_kek_id=doc["active_kek"],
            index_key=unb64u(doc["index"]),
            evidence_key=unb64u(doc["evidence"]),
            suppression_key=unb64u(doc["suppression"]),
        )

    @classmethod
    def generate(cls) -> Keyring:
        return cls(
            signing=(_new_signing_key(),),
            keks={},
            active_kek_id="",
            index_key=secrets.token_bytes(32),
            evidence_key=secrets.token_bytes(32),
            suppression_key=secrets.token_bytes(32),
        ).with_new_kek()


class UnknownKey(Exception):
    """A ciphertext or token names a key this keyring does not hold."""


def _new_signing_key() -> SigningKey:
    return SigningKey(Ed25519PrivateKey.generate(), datetime.now(UTC).isoformat(timespec="seconds"))


def load_keyring(path: Path, env: Mapping[str, str] = os.environ) -> Keyring:
    """The keyring from ``LUPA_KEYRING`` if set, else from ``path``, creating it on first use."""
    if env.get("LUPA_KEYRING"):
        return Keyring.from_json(env["LUPA_KEYRING"])
    if not path.exists():  # an existing file is only read: it may sit on a read-only mount
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with _locked(path):
            if not path.exists():
                _write(path, Keyring.generate())
    return KeyringSource(path).reload()


def save_keyring(path: Path, keyring: Keyring) -> None:
    with _locked(path):
        _write(path, keyring)


def _write(path: Path, keyring: Keyring) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(keyring.to_json())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class _locked:
    """An exclusive advisory lock beside the keyring, so two processes never both create one."""

    def __init__(self, path: Path) -> None:
        self.lock_path = path.with_suffix(".lock")

    def __enter__(self) -> None:
        self.fh = open(self.lock_path, "a")
        fcntl.flock(self.fh, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()


class KeyringSource:
    """The newest keyring in a file, for a running process: re-read only when the file changed.

    ``lupa keys rotate`` saves the keyring before rewrapping data keys, so a process that meets
    a key-encryption key id it does not know calls ``Keyring.newest()`` and finds it; signing
    and the JWKS call it too, so a new signing key signs and is published without a restart.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._keyring: Keyring | None = None
        self._stamp: tuple[int, int, int] | None = None

    def current(self) -> Keyring:
        return self._keyring if self._keyring is not None else self.reload()

    def reload(self) -> Keyring:
        """Re-read the file if it changed since the last read (a stat otherwise)."""
        stamp = self._file_stamp()
        if self._keyring is not None and stamp in (None, self._stamp):
            return self._keyring
        # No lock: saves replace the file atomically, so an open file is one whole keyring, and
        # its stamp is taken from that very file. Read-only mounts (a Kubernetes Secret volume,
        # which swaps a symlink on update) work the same way.
        with open(self.path) as fh:
            st = os.fstat(fh.fileno())
            text, stamp = fh.read(), (st.st_ino, st.st_mtime_ns, st.st_size)
        self._keyring, self._stamp = replace(Keyring.from_json(text), source=self), stamp
        return self._keyring

    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        # save_keyring replaces the file, so the inode changes on every save.
        return (st.st_ino, st.st_mtime_ns, st.st_size)
