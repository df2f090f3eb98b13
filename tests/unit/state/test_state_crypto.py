"""Encryption at rest: round trip, wrong key, no key, nothing in plaintext."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Callable

import pytest

from mlform.engine.diagnostics import DiagnosticsError
from mlform.engine.state import (
    Encryptor,
    LocalBackend,
    ResourceState,
    State,
    StateManager,
    load_encryptor,
    new_operation_id,
)

MakeRS = Callable[..., ResourceState]
SECRET = "hunter2-very-secret-api-token"


def all_bytes(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}


def test_round_trip_with_a_raw_key(state_path: Path, enc: Encryptor, make_rs: MakeRS) -> None:
    s = State()
    s.put(make_rs("endpoint.e", token=SECRET))
    written = LocalBackend(state_path, enc).write(s)
    doc = json.loads(state_path.read_text())
    assert set(doc) == {"encryption", "nonce", "ciphertext"}
    assert doc["encryption"] == {"algorithm": "AES-256-GCM", "kdf": "none"}
    assert LocalBackend(state_path, enc).read() == written


def test_round_trip_with_a_passphrase(state_path: Path, make_rs: MakeRS) -> None:
    enc = load_encryptor(environ={"MLFORM_STATE_KEY": "correct horse battery staple"})
    assert enc is not None and enc.uses_passphrase
    s = State()
    s.put(make_rs("endpoint.e", token=SECRET))
    LocalBackend(state_path, enc).write(s)
    header = json.loads(state_path.read_text())["encryption"]
    assert header["kdf"] == "scrypt" and len(base64.b64decode(header["salt"])) == 16
    # Another process with the same passphrase (a fresh Encryptor) reads it.
    again = load_encryptor(environ={"MLFORM_STATE_KEY": "correct horse battery staple"})
    got = LocalBackend(state_path, again).read()
    assert got is not None and (got.get("endpoint.e") or make_rs("x.y")).attributes["token"] == SECRET


def test_wrong_key_fails_clearly_and_overwrites_nothing(state_path: Path, enc: Encryptor) -> None:
    LocalBackend(state_path, enc).write(State())
    before = state_path.read_bytes()
    wrong = Encryptor(key=os.urandom(32), source="MLFORM_STATE_KEY")
    b = LocalBackend(state_path, wrong)
    with pytest.raises(DiagnosticsError, match="Failed to decrypt state") as exc:
        b.read()
    detail = exc.value.diagnostics.errors[0].detail
    assert "MLFORM_STATE_KEY" in detail and "nothing was overwritten" in detail
    with pytest.raises(DiagnosticsError, match="Failed to decrypt state"):
        b.write(State())
    with pytest.raises(DiagnosticsError, match="Failed to decrypt state"):
        StateManager(b).begin()
    assert state_path.read_bytes() == before


def test_passphrase_for_a_raw_key_state_is_a_wrong_key(state_path: Path, enc: Encryptor) -> None:
    LocalBackend(state_path, enc).write(State())
    other = Encryptor(passphrase="not the key", source="MLFORM_STATE_KEY")
    with pytest.raises(DiagnosticsError, match="Failed to decrypt state") as exc:
        LocalBackend(state_path, other).read()
    assert "raw 32-byte key" in exc.value.diagnostics.errors[0].detail


def test_reading_encrypted_state_without_a_key_says_how_to_give_one(
        state_path: Path, enc: Encryptor) -> None:
    LocalBackend(state_path, enc).write(State())
    with pytest.raises(DiagnosticsError, match="State is encrypted but no key is configured") as exc:
        LocalBackend(state_path).read()
    assert "MLFORM_STATE_KEY" in exc.value.diagnostics.errors[0].detail
    with pytest.raises(DiagnosticsError, match="no key is configured"):
        LocalBackend(state_path).write(State())


def test_tampered_ciphertext_is_detected(state_path: Path, enc: Encryptor) -> None:
    LocalBackend(state_path, enc).write(State())
    doc = json.loads(state_path.read_text())
    ct = bytearray(base64.b64decode(doc["ciphertext"]))
    ct[5] ^= 1
    doc["ciphertext"] = base64.b64encode(bytes(ct)).decode()
    state_path.write_text(json.dumps(doc))
    with pytest.raises(DiagnosticsError, match="Failed to decrypt state"):
        LocalBackend(state_path, enc).read()


def test_no_plaintext_on_disk_in_state_backup_or_journal(
        state_path: Path, enc: Encryptor, make_rs: MakeRS) -> None:
    mgr = StateManager(LocalBackend(state_path, enc))
    mgr.load()
    with mgr.session():
        mgr.record_put(make_rs("endpoint.a", token=SECRET))
    mgr.begin()
    op = new_operation_id()
    mgr.record_intent("endpoint.b", op, "create")
    mgr.record_put(make_rs("endpoint.b", token=SECRET), done=op)
    mgr.set_outputs({"token": SECRET})
    # Crash here: state, backup-less journal; then a second compaction makes a backup.
    files = all_bytes(state_path.parent)
    assert "mlform.state.json.journal" in files
    recovered = StateManager(LocalBackend(state_path, enc))
    assert recovered.load().outputs == {"token": SECRET}
    recovered.begin()
    recovered.commit()
    files.update(all_bytes(state_path.parent))
    assert {"mlform.state.json", "mlform.state.json.backup", "mlform.state.json.journal"} <= set(files)
    for name, data in files.items():
        assert SECRET.encode() not in data, name
        assert b"endpoint.b" not in data, name


def test_journal_lines_are_each_encrypted(state_path: Path, enc: Encryptor, make_rs: MakeRS) -> None:
    mgr = StateManager(LocalBackend(state_path, enc))
    mgr.load()
    mgr.begin()
    mgr.record_put(make_rs("model.a"))
    lines = state_path.with_name(state_path.name + ".journal").read_text().splitlines()
    assert len(lines) == 2
    for line in lines:
        assert set(json.loads(line)) == {"encryption", "nonce", "ciphertext"}
    with pytest.raises(DiagnosticsError, match="no key is configured"):
        LocalBackend(state_path).read()


def test_turning_encryption_on_encrypts_the_plaintext_backup_too(
        state_path: Path, enc: Encryptor, make_rs: MakeRS) -> None:
    s = State()
    s.put(make_rs("endpoint.a", token=SECRET))
    LocalBackend(state_path).write(s)  # plaintext, before encryption was set up
    b = LocalBackend(state_path, enc)
    current = b.read()  # plaintext is readable with a key configured
    assert current is not None
    b.write(current)
    for name, data in all_bytes(state_path.parent).items():
        assert SECRET.encode() not in data, name
    assert b.read_backup() == LocalBackend(state_path, enc).read_backup()
    backup = b.read_backup()
    assert backup is not None and backup.serial == 1


def test_key_sources(tmp_path: Path, raw_key: str) -> None:
    assert load_encryptor(environ={}) is None
    env_enc = load_encryptor(environ={"MLFORM_STATE_KEY": raw_key})
    assert env_enc is not None and not env_enc.uses_passphrase and env_enc.source == "MLFORM_STATE_KEY"
    text_file = tmp_path / "key.txt"
    text_file.write_text(raw_key + "\n")
    from_file = load_encryptor(environ={"MLFORM_STATE_KEY_FILE": str(text_file)})
    assert from_file is not None and not from_file.uses_passphrase
    binary = tmp_path / "key.bin"
    binary.write_bytes(b"\xff" + os.urandom(31))
    bin_enc = load_encryptor(binary, environ={})
    assert bin_enc is not None and not bin_enc.uses_passphrase
    # Same key from env and file decrypt each other's state.
    s = env_enc.seal(b"x", "p")
    assert from_file.open(s, "p", "here") == b"x"


def test_key_source_errors(tmp_path: Path, raw_key: str) -> None:
    with pytest.raises(DiagnosticsError, match="Two state encryption keys are configured"):
        load_encryptor(environ={"MLFORM_STATE_KEY": raw_key, "MLFORM_STATE_KEY_FILE": "/x"})
    with pytest.raises(DiagnosticsError, match="Empty state encryption key"):
        load_encryptor(environ={"MLFORM_STATE_KEY": ""})
    with pytest.raises(DiagnosticsError, match="Cannot read the state encryption key file") as exc:
        load_encryptor(environ={"MLFORM_STATE_KEY_FILE": str(tmp_path / "missing")})
    assert "missing" in exc.value.diagnostics.errors[0].detail
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(DiagnosticsError, match="Empty state encryption key"):
        load_encryptor(empty, environ={})
