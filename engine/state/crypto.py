"""Encryption at rest for state documents, backups and journal records.

AES-256-GCM (authenticated: a wrong key or a modified file fails to decrypt,
it never yields garbage). The key comes from ``MLFORM_STATE_KEY`` (base64 of
32 bytes, or any other text used as a passphrase) or from a key file
(``MLFORM_STATE_KEY_FILE`` or an explicit path). A passphrase is stretched
with scrypt; the salt and cost parameters travel in each envelope so any
holder of the passphrase can decrypt.

An encrypted document is a JSON envelope::

    {"encryption": {"algorithm": "AES-256-GCM", "kdf": "scrypt",
                    "salt": "...", "n": 32768, "r": 8, "p": 1},
     "nonce": "<base64 12 bytes>", "ciphertext": "<base64>"}

(``"kdf": "none"`` and no salt for a raw key). The purpose of the blob
(``state`` or ``journal``) is bound in as associated data, so a journal
record cannot be passed off as a state document.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import threading
from pathlib import Path
from typing import Any, Mapping


from ..diagnostics import DiagnosticsError, error

ENV_KEY = "MLFORM_STATE_KEY"
ENV_KEY_FILE = "MLFORM_STATE_KEY_FILE"
ALGORITHM = "AES-256-GCM"

# scrypt cost: ~50 ms and 32 MiB per derivation; derived keys are cached per
# salt so a run pays it once, not once per journal record.
_SCRYPT_N = 2**15
_SCRYPT_R = 8
_SCRYPT_P = 1
_KEY_HINT = (
    f"Set {ENV_KEY} to the key that encrypted it (base64 of 32 bytes, or the "
    f"passphrase), or {ENV_KEY_FILE} to a file holding it."
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _raw_key(text: str) -> bytes | None:
    """The 32-byte key ``text`` encodes in base64, or None if it is a passphrase."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


class Encryptor:
    """Seals and opens state blobs with AES-256-GCM under one key or passphrase.

    Build one with :func:`load_encryptor` (environment / key file) or
    :meth:`from_secret`. ``source`` names where the key came from, for error
    messages. Thread-safe.
    """

    def __init__(self, *, key: bytes | None = None, passphrase: str | None = None,
                 source: str = "the configured key") -> None:
        if (key is None) == (passphrase is None):
            raise ValueError("give exactly one of key or passphrase")
        if key is not None and len(key) != 32:
            raise ValueError("an AES-256 key is 32 bytes")
        if passphrase is not None and not passphrase:
            raise ValueError("empty passphrase")
        self._key = key
        self._passphrase = passphrase
        self.source = source
        self._derived: dict[bytes, bytes] = {}
        self._salt: bytes | None = None
        self._mu = threading.Lock()

    @classmethod
    def from_secret(cls, text: str, source: str) -> Encryptor:
        """Base64 of 32 bytes is a raw key; any other text is a passphrase."""
        raw = _raw_key(text)
        if raw is not None:
            return cls(key=raw, source=source)
        return cls(passphrase=text, source=source)

    @property
    def uses_passphrase(self) -> bool:
        return self._passphrase is not None

    def _derive(self, salt: bytes, n: int, r: int, p: int) -> bytes:
        assert self._passphrase is not None
        with self._mu:
            cached = self._derived.get(salt + b"|%d|%d|%d" % (n, r, p))
            if cached is not None:
                return cached
        from cryptography.hazmat.primitives.kdf.scrypt import Scrypt  # lazily: only encrypted state pays the import

        kdf = Scrypt(salt=salt, length=32, n=n, r=r, p=p)
        key = kdf.derive(self._passphrase.encode("utf-8"))
        with self._mu:
            self._derived[salt + b"|%d|%d|%d" % (n, r, p)] = key
            # Adopt the salt of what we read, so re-encrypting costs no new
            # derivation.
            if self._salt is None:
                self._salt = salt
        return key

    def _write_salt(self) -> bytes:
        with self._mu:
            if self._salt is None:
                self._salt = os.urandom(16)
            return self._salt

    def seal(self, plaintext: bytes, purpose: str) -> dict[str, Any]:
        """Encrypt ``plaintext`` into an envelope (a JSON-ready dict)."""
        header: dict[str, Any] = {"algorithm": ALGORITHM}
        if self._key is not None:
            key = self._key
            header["kdf"] = "none"
        else:
            salt = self._write_salt()
            key = self._derive(salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
            header.update(kdf="scrypt", salt=_b64(salt), n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P)
        nonce = os.urandom(12)
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        ct = AESGCM(key).encrypt(nonce, plaintext, purpose.encode("ascii"))
        return {"encryption": header, "nonce": _b64(nonce), "ciphertext": _b64(ct)}

    def open(self, envelope: Mapping[str, Any], purpose: str, where: str) -> bytes:
        """Decrypt an envelope; a wrong key raises "Failed to decrypt state"."""
        try:
            header = envelope["encryption"]
            if header.get("algorithm") != ALGORITHM:
                raise DiagnosticsError(error(
                    "Unsupported state encryption",
                    f"{where} is encrypted with {header.get('algorithm')!r}; this "
                    f"mlform reads only {ALGORITHM}. Use the mlform version that wrote it.",
                ))
            nonce = _unb64(envelope["nonce"])
            ct = _unb64(envelope["ciphertext"])
            kdf = header.get("kdf")
            if kdf == "scrypt":
                if self._passphrase is None:
                    raise _wrong_key(where, self.source,
                                     "it was encrypted with a passphrase, but the "
                                     "configured secret is a raw 32-byte key")
                key = self._derive(_unb64(header["salt"]), int(header["n"]),
                                   int(header["r"]), int(header["p"]))
            elif kdf == "none":
                if self._key is None:
                    raise _wrong_key(where, self.source,
                                     "it was encrypted with a raw 32-byte key, but "
                                     "the configured secret is a passphrase")
                key = self._key
            else:
                raise KeyError("kdf")
        except (KeyError, TypeError, ValueError, binascii.Error, AttributeError) as exc:
            raise DiagnosticsError(error(
                "Failed to decrypt state",
                f"{where} looks encrypted but its envelope is damaged ({exc!r}). "
                "Restore it from the backup; mlform has not written anything.",
            )) from exc
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        try:
            return AESGCM(key).decrypt(nonce, ct, purpose.encode("ascii"))
        except InvalidTag as exc:
            raise _wrong_key(where, self.source,
                             "the key is wrong or the data was modified") from exc


def _wrong_key(where: str, source: str, why: str) -> DiagnosticsError:
    return DiagnosticsError(error(
        "Failed to decrypt state",
        f"{where} could not be decrypted with the key from {source}: {why}. "
        f"{_KEY_HINT} mlform has not written anything, so nothing was overwritten.",
    ))


def is_envelope(doc: object) -> bool:
    """Whether a parsed JSON document is an encryption envelope."""
    return isinstance(doc, dict) and "encryption" in doc and "ciphertext" in doc


def seal_bytes(plaintext: bytes, enc: Encryptor, purpose: str) -> bytes:
    """Encrypt to compact envelope JSON (one line, no newline)."""
    return json.dumps(enc.seal(plaintext, purpose), separators=(",", ":")).encode("ascii")


def open_envelope(doc: Mapping[str, Any], enc: Encryptor | None, purpose: str,
                  where: str) -> bytes:
    """Decrypt a parsed envelope, or explain that no key is configured."""
    if enc is None:
        raise DiagnosticsError(error(
            "State is encrypted but no key is configured",
            f"{where} is encrypted ({ALGORITHM}). {_KEY_HINT}",
        ))
    return enc.open(doc, purpose, where)


def load_encryptor(key_file: str | Path | None = None,
                   environ: Mapping[str, str] | None = None) -> Encryptor | None:
    """The encryptor the user configured, or None when state is plaintext.

    Sources, first found wins: ``key_file``, then ``MLFORM_STATE_KEY``, then
    ``MLFORM_STATE_KEY_FILE``. Setting both environment variables is an
    error rather than a silent choice. Raises :class:`DiagnosticsError` for an
    unreadable or empty key file or an empty key.
    """
    env = os.environ if environ is None else environ
    if key_file is None:
        text = env.get(ENV_KEY)
        file_env = env.get(ENV_KEY_FILE)
        if text is not None and file_env:
            raise DiagnosticsError(error(
                "Two state encryption keys are configured",
                f"Both {ENV_KEY} and {ENV_KEY_FILE} are set; unset one of them.",
            ))
        if text is not None:
            if not text:
                raise DiagnosticsError(error(
                    "Empty state encryption key",
                    f"{ENV_KEY} is set but empty. Set it to base64 of 32 random bytes "
                    "(e.g. `openssl rand -base64 32`) or unset it.",
                ))
            return Encryptor.from_secret(text, ENV_KEY)
        if not file_env:
            return None
        key_file = file_env
    path = Path(key_file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DiagnosticsError(error(
            "Cannot read the state encryption key file",
            f"{path}: {exc.strerror or exc}. Check the path in {ENV_KEY_FILE}.",
        )) from exc
    source = f"key file {path}"
    try:
        text = data.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        # Not text: 32 raw bytes (e.g. `head -c 32 /dev/urandom > key`).
        if len(data) == 32:
            return Encryptor(key=data, source=source)
        text = ""
    if not text:
        raise DiagnosticsError(error(
            "Empty state encryption key",
            f"{path} holds no usable key: put base64 of 32 bytes, 32 raw bytes, "
            "or a passphrase in it.",
        ))
    return Encryptor.from_secret(text, source)
