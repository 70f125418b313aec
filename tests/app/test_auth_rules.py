"""API keys at their exact rules, in-process: a key of MAX_KEY_BYTES is accepted and a longer one ignored (and
reported by file name and size), the directory is re-read exactly once RELOAD_INTERVAL_S has passed and on any
change of an entry's inode, size or mtime, and an unreadable or empty directory refuses every request and says so
at ERROR. Log records are checked for what an operator reads in them (file, size, directory, key count), not wording."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from model_server import auth
from model_server.auth import MAX_KEY_BYTES, RELOAD_INTERVAL_S, ApiKeys

KEY = "k1-" + "a" * 40


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _directory(tmp_path: Path, **keys: str) -> Path:
    directory = tmp_path / "api-keys"
    directory.mkdir(exist_ok=True)
    for name, key in keys.items():
        (directory / name).write_text(key)
    return directory


def _messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == auth.log.name and r.levelno == level]


def test_a_key_of_exactly_max_key_bytes_is_accepted_and_one_byte_more_is_ignored_and_reported(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    longest, too_long = "a" * MAX_KEY_BYTES, "b" * (MAX_KEY_BYTES + 1)
    caplog.set_level(logging.INFO, logger=auth.log.name)
    keys = ApiKeys(_directory(tmp_path, longest=f"  {longest}\n", certificate=too_long))
    assert keys.count == 1
    assert keys.check(f"Bearer {longest}".encode()) and not keys.check(f"Bearer {too_long}".encode())
    [warning] = _messages(caplog, logging.WARNING)
    assert "certificate" in warning and str(MAX_KEY_BYTES + 1) in warning and str(MAX_KEY_BYTES) in warning


def test_the_token_after_bearer_is_matched_without_surrounding_whitespace_and_the_scheme_in_any_case(
        tmp_path: Path) -> None:
    keys = ApiKeys(_directory(tmp_path, primary=KEY))
    assert keys.check(f"BEARER   {KEY}  ".encode())
    assert not keys.check(f"Bearer{KEY}".encode()) and not keys.check(b"Bearer")
    assert keys.check_token(KEY.encode()) and not keys.check_token(b"")


def test_hidden_entries_and_directories_are_not_keys(tmp_path: Path) -> None:
    directory = _directory(tmp_path, primary=KEY, **{".hidden": "k-hidden"})
    (directory / "sub").mkdir()
    (directory / "sub" / "nested").write_text("k-nested")
    keys = ApiKeys(directory)
    assert keys.count == 1
    assert not keys.check(b"Bearer k-hidden") and not keys.check(b"Bearer k-nested")


def test_the_directory_is_re_read_exactly_once_the_reload_interval_has_passed(tmp_path: Path) -> None:
    clock = _Clock()
    directory = _directory(tmp_path, primary=KEY)
    keys = ApiKeys(directory, clock=clock)
    assert keys.count == 1  # the first check reads the directory (at 0.0)
    (directory / "secondary").write_text("k2-new")
    clock.now = RELOAD_INTERVAL_S - 0.001
    assert keys.count == 1 and not keys.check(b"Bearer k2-new")
    clock.now = RELOAD_INTERVAL_S
    assert keys.check(b"Bearer k2-new") and keys.count == 2


def test_a_refused_request_also_lets_a_rotation_take_effect(tmp_path: Path) -> None:
    clock = _Clock()
    directory = _directory(tmp_path, primary=KEY)
    keys = ApiKeys(directory, clock=clock)
    assert keys.count == 1
    (directory / "primary").unlink()
    clock.now = RELOAD_INTERVAL_S
    assert not keys.check(None)  # no header: refused, and the directory was re-read meanwhile
    clock.now = RELOAD_INTERVAL_S + RELOAD_INTERVAL_S / 2
    assert not keys.check_token(KEY.encode())
    assert keys._keys == ()


def _replace(path: Path, content: str, *, same_inode: bool, mtime_ns: int) -> None:
    if same_inode:
        path.write_text(content)
    else:
        fresh = path.with_name(".fresh")
        fresh.write_text(content)
        os.replace(fresh, path)
    os.utime(path, ns=(mtime_ns, mtime_ns))


@pytest.mark.parametrize(("change", "new_key"), [
    ("inode", "k1-" + "z" * 40),  # same size and mtime, a new file swapped in (as the kubelet's symlink swap does)
    ("size", "k1-" + "z" * 41),  # same inode and mtime, another length
    ("mtime", "k1-" + "z" * 40),  # same inode and size
])
def test_a_key_file_changed_in_only_its_inode_size_or_mtime_is_re_read(tmp_path: Path, change: str,
                                                                        new_key: str) -> None:
    clock = _Clock()
    directory = _directory(tmp_path, primary=KEY)
    path = directory / "primary"
    before = path.stat().st_mtime_ns
    keys = ApiKeys(directory, clock=clock)
    _replace(path, new_key, same_inode=change != "inode", mtime_ns=before + (10**9 if change == "mtime" else 0))
    clock.now = RELOAD_INTERVAL_S
    assert keys.check(f"Bearer {new_key}".encode()) and not keys.check(f"Bearer {KEY}".encode())


def test_a_rotation_is_logged_with_the_key_count_and_an_unchanged_directory_is_not(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=auth.log.name)
    clock = _Clock()
    directory = _directory(tmp_path, primary=KEY)
    keys = ApiKeys(directory, clock=clock)
    assert len(_messages(caplog, logging.INFO)) == 1 and str(directory) in _messages(caplog, logging.INFO)[0]
    caplog.clear()
    os.utime(directory / "primary", ns=(1, 1))  # touched, same key
    clock.now = RELOAD_INTERVAL_S
    assert keys.count == 1
    assert _messages(caplog, logging.INFO) == []
    (directory / "primary").write_text("k1-" + "r" * 40)  # rotated: same count, another key
    os.utime(directory / "primary", ns=(2 * 10**9, 2 * 10**9))
    clock.now = 2 * RELOAD_INTERVAL_S
    assert keys.count == 1
    [loaded] = _messages(caplog, logging.INFO)
    assert str(directory) in loaded and ": 1 key" in loaded


def test_an_unreadable_directory_refuses_everything_says_so_and_is_read_once_it_appears(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=auth.log.name)
    clock = _Clock()
    directory = tmp_path / "not-mounted-yet"
    keys = ApiKeys(directory, clock=clock)
    assert keys.count == 0 and not keys.check(f"Bearer {KEY}".encode())
    errors = _messages(caplog, logging.ERROR)
    assert errors and all(str(directory) in e for e in errors)
    assert any("No such file" in e for e in errors)  # the OS's reason reaches the log
    directory.mkdir()
    (directory / "primary").write_text(KEY)
    clock.now = RELOAD_INTERVAL_S
    assert keys.check(f"Bearer {KEY}".encode())


def test_an_empty_directory_refuses_everything_and_says_so_at_error(tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=auth.log.name)
    directory = _directory(tmp_path, empty="  \n")
    keys = ApiKeys(directory)
    assert keys.count == 0 and not keys.check(b"Bearer ") and not keys.check(b"Bearer x")
    [error] = _messages(caplog, logging.ERROR)
    assert str(directory) in error


def test_an_unreadable_key_file_is_skipped_with_its_name_and_reason_and_the_other_keys_still_work(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=auth.log.name)
    directory = _directory(tmp_path, locked="k-locked", primary=KEY)
    read_bytes = Path.read_bytes

    def refusing(path: Path) -> bytes:
        if path.name == "locked":
            raise PermissionError(13, "Permission denied")
        return read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", refusing)
    keys = ApiKeys(directory)
    assert keys.count == 1 and keys.check(f"Bearer {KEY}".encode()) and not keys.check(b"Bearer k-locked")
    [warning] = _messages(caplog, logging.WARNING)
    assert "locked" in warning and "Permission denied" in warning
