"""imgprep._fs: atomic writes, the append-only journal, text files, paths and identities."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest

from imgprep import _fs, files
from imgprep.errors import OutputError

# --------------------------------------------------------------------------------------- paths


@pytest.mark.parametrize(
    ("path", "folder", "inside"),
    [
        ("/a/b", "/a", True),
        ("/a/b/c.png", "/a", True),
        ("/ab", "/a", False),  # a sibling sharing the folder's name as a prefix
        ("/a", "/a", False),  # the folder itself is not below itself
        ("/x", "/", True),
        ("/", "/", False),
    ],
)
def test_inside_is_strictly_below_by_whole_parts(path: str, folder: str, inside: bool) -> None:
    assert _fs.is_inside(path, folder) is inside


# ------------------------------------------------------------------------------- atomic writes


def test_stale_temp_files_of_a_killed_run_are_removed(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    stale = [
        tmp_path / f".a.png.0123abcd{files.TEMP_SUFFIX}",
        tmp_path / "sub" / f".b.jpg.deadbeef{files.TEMP_SUFFIX}",
    ]
    kept = [tmp_path / "a.png", tmp_path / "sub" / "b.jpg", tmp_path / "notes.imgprep-tmp.txt"]
    for path in stale + kept:
        path.write_bytes(b"x")
    assert files.remove_stale_temp_files(tmp_path) == sorted(stale)
    assert all(path.exists() for path in kept)
    assert not any(path.exists() for path in stale)
    assert files.remove_stale_temp_files(tmp_path) == []
    assert files.remove_stale_temp_files(tmp_path / "missing") == []


# ---------------------------------------------------------------------------------- text files


@pytest.mark.parametrize(
    "given", ["a.jpg", "photos/2024/a b.jpg", "./x/../y.png", "/abs/p.jpg", "//net/p", ".", "é/ü"]
)
@pytest.mark.parametrize("cwd", ["/", "tmp"])
def test_absolute_text_is_pathlibs_absolute(
    given: str, cwd: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir("/" if cwd == "/" else tmp_path)
    normal = str(Path(given))  # what InputList holds
    assert _fs.absolute_text(normal) == str(Path(given).absolute())
    assert _fs.absolute_text(Path(given)) == str(Path(given).absolute())


def test_text_round_trip_and_identity(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "manifest.json"
    assert _fs.read_text(path) is None
    assert files.file_identity(path) is None
    _fs.write_text_atomic(path, "héllo\n")
    assert _fs.read_text(path) == "héllo\n"
    size, mtime_ns = files.file_identity(path) or (0, 0)
    assert size == len("héllo\n".encode())
    assert mtime_ns == path.stat().st_mtime_ns
    _fs.write_text_atomic(path, "second")
    assert _fs.read_text(path) == "second"
    assert sorted(os.listdir(path.parent)) == ["manifest.json"]


def test_write_text_atomic_failure_keeps_the_old_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "manifest.json"
    _fs.write_text_atomic(path, "old")

    def no_space(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OutputError, match="no space left on device"):
        _fs.write_text_atomic(path, "new")
    assert _fs.read_text(path) == "old"
    assert os.listdir(tmp_path) == ["manifest.json"]


def test_line_logs_of_one_file_from_eight_threads_keep_every_line_whole(tmp_path: Path) -> None:
    path = tmp_path / "log" / "events.jsonl"

    def writer(number: int) -> None:
        log = _fs.LineLog(path)  # a descriptor of its own, as another process would have
        try:
            for index in range(200):
                log.append(f"{number}:{index}:" + chr(65 + number) * 2000)
        finally:
            log.close()

    threads = [threading.Thread(target=writer, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    text = _fs.read_text(path)
    assert text is not None and text.endswith("\n")
    lines = text.splitlines()
    assert len(lines) == 8 * 200
    expected = {f"{n}:{i}:" + chr(65 + n) * 2000 for n in range(8) for i in range(200)}
    assert set(lines) == expected


def test_line_log_keeps_one_file_open_and_lines_whole_across_threads(tmp_path: Path) -> None:
    log = _fs.LineLog(tmp_path / "new" / "events.jsonl")
    fds_before = len(os.listdir("/proc/self/fd"))

    def writer(number: int) -> None:
        for index in range(200):
            log.append(f"{number}:{index}:" + chr(65 + number) * 2000)

    threads = [threading.Thread(target=writer, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(os.listdir("/proc/self/fd")) == fds_before + 1  # one descriptor for all lines
    log.close()
    assert len(os.listdir("/proc/self/fd")) == fds_before
    log.append("after close")  # opens the file again
    log.close()
    lines = (_fs.read_text(log.path) or "").splitlines()
    assert len(lines) == 8 * 200 + 1 and lines[-1] == "after close"
    assert len(set(lines)) == len(lines)
    assert all(
        len(line) == len(line.split(":")[0]) + len(line.split(":")[1]) + 2002 for line in lines[:-1]
    )


def test_line_log_names_the_file_when_it_cannot_write(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    log = _fs.LineLog(tmp_path / "file" / "events.jsonl")
    with pytest.raises(OutputError, match=r"file/events.jsonl: "):
        log.append("x")


def test_line_log_refuses_newlines(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must not contain a newline"):
        _fs.LineLog(tmp_path / "log").append("two\nlines")
