"""kg.loaders.expand_paths: a folder is walked without leaving it by a link, and without opening what is not a file.

Real symlinks (to a file standing in for /etc/passwd, to folders in and out, in loops), a FIFO, a unix socket and a
character device are laid out in a temporary folder; each is skipped with a ``LoadWarning`` or followed as asked.
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import write

from kg.loaders import LoadError, LoadWarning, expand_paths

LINK_OUT = "leaves the folder {root}; not ingested (--follow-links allows it)"


@pytest.fixture(autouse=True)
def no_hang() -> Iterator[None]:
    """A walk that opens a FIFO blocks for ever: fail after 10 s instead."""
    def stop(*_: object) -> None:
        raise TimeoutError("expand_paths blocked")
    old = signal.signal(signal.SIGALRM, stop)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def walk(*paths: Path, follow_links: bool = False) -> tuple[list[Path], dict[str, str], dict[str, str]]:
    """(files, warnings by path, errors by path) from ``expand_paths``; a warning is never counted as an error."""
    files, warnings, errors = [], {}, {}
    for item in expand_paths(paths, follow_links=follow_links):
        if isinstance(item, LoadWarning):
            warnings[item.where] = item.reason
        elif isinstance(item, LoadError):
            errors[item.where] = item.reason
        else:
            files.append(item)
    return files, warnings, errors


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file outside the folder that is ingested, standing in for /etc/passwd."""
    return write(tmp_path / "etc", "passwd", "root:x:0:0:root:/root:/bin/bash")


def test_a_link_to_a_file_outside_the_folder_is_skipped_and_reported(tmp_path: Path, secret: Path) -> None:
    notes = tmp_path / "notes"
    a = write(notes, "a.txt", "Marie Curie was born in Warsaw.")
    (notes / "passwd.txt").symlink_to(secret)
    files, warnings, errors = walk(notes)
    assert files == [a] and errors == {}
    assert warnings == {str(notes / "passwd.txt"): f"link to {secret} {LINK_OUT.format(root=notes)}"}
    assert issubclass(LoadWarning, LoadError)
    # --follow-links follows it.
    files, warnings, errors = walk(notes, follow_links=True)
    assert files == [a, notes / "passwd.txt"] and warnings == {} and errors == {}


def test_a_relative_link_out_and_a_link_chain_are_judged_by_their_final_target(tmp_path: Path, secret: Path) -> None:
    notes = tmp_path / "notes"
    write(notes, "a.txt", "text")
    (notes / "hop.txt").symlink_to(secret)
    (notes / "chain.md").symlink_to("hop.txt")  # inside, but on to a link that leaves
    (notes / "up.txt").symlink_to(Path("..") / "etc" / "passwd")
    _, warnings, _ = walk(notes)
    assert set(warnings) == {str(notes / n) for n in ("chain.md", "hop.txt", "up.txt")}
    assert all(w == f"link to {secret} {LINK_OUT.format(root=notes)}" for w in warnings.values())


def test_a_path_given_directly_is_followed_even_if_it_is_a_link(tmp_path: Path, secret: Path) -> None:
    link = tmp_path / "notes" / "linked.txt"
    link.parent.mkdir()
    link.symlink_to(secret)
    assert walk(link) == ([link], {}, {})
    folder_link = tmp_path / "folder_link"
    folder_link.symlink_to(tmp_path / "notes")  # a folder given as a link is walked, and its links judged
    files, warnings, _ = walk(folder_link)
    assert files == [] and list(warnings) == [str(folder_link / "linked.txt")]


def test_links_inside_the_folder_are_fine_and_each_file_comes_once(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    a = write(notes, "sub/a.txt", "text")
    b = write(notes, "b.md", "text")
    (notes / "alias.txt").symlink_to(a)  # the same file by a link: the direct path is kept
    (notes / "z_alias.md").symlink_to("b.md")
    (notes / "sub_link").symlink_to("sub")  # a folder inside: walked once, by its own path
    os.link(b, notes / "hard.md")  # a hard link is the same file too
    only_by_link = write(tmp_path / "notes_data", "data.csv", "x")
    (notes / "data.txt").symlink_to(Path("..") / "notes_data" / "data.csv")  # outside: reported, not yielded
    files, warnings, errors = walk(notes)
    assert files == sorted([a, b]) and errors == {}
    assert list(warnings) == [str(notes / "data.txt")]
    assert only_by_link.exists()


def test_a_folder_link_leaving_the_folder_is_skipped_unless_links_are_followed(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    a = write(notes, "a.txt", "text")
    outside = write(tmp_path / "elsewhere", "deep/b.md", "text")
    (notes / "more").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    files, warnings, _ = walk(notes)
    assert files == [a]
    assert warnings == {str(notes / "more"): f"link to {tmp_path / 'elsewhere'} {LINK_OUT.format(root=notes)}"}
    files, warnings, _ = walk(notes, follow_links=True)
    assert files == [a, notes / "more" / "deep" / "b.md"] and warnings == {}
    assert outside.exists()


@pytest.mark.parametrize("follow_links", [False, True])
def test_link_loops_end(tmp_path: Path, follow_links: bool) -> None:
    notes = tmp_path / "notes"
    a = write(notes, "a.txt", "text")
    (notes / "self").symlink_to(notes)  # a folder holding itself
    (notes / "sub").mkdir()
    (notes / "sub" / "up").symlink_to("..")
    (notes / "loop.txt").symlink_to("loop.txt")  # a link to itself never resolves
    (notes / "ping.md").symlink_to("pong.md")
    (notes / "pong.md").symlink_to("ping.md")
    (tmp_path / "back").symlink_to(notes)  # out of the folder and back into it
    (notes / "out").symlink_to(tmp_path / "back")
    files, warnings, errors = walk(notes, follow_links=follow_links)
    assert files == [a] and errors == {}
    loops = {str(notes / n) for n in ("loop.txt", "ping.md", "pong.md")}
    assert loops <= set(warnings)
    assert all("cannot be read" in warnings[p] and warnings[p].endswith("; skipped") for p in loops)


def test_a_fifo_is_reported_and_never_opened(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    a = write(notes, "a.txt", "text")
    os.mkfifo(notes / "pipe.txt")
    os.mkfifo(notes / "pipe")
    files, warnings, errors = walk(notes)  # opening a FIFO with no writer would block here
    assert files == [a] and errors == {}
    assert warnings == {str(notes / "pipe"): "not a regular file (FIFO); skipped",
                        str(notes / "pipe.txt"): "not a regular file (FIFO); skipped"}
    # Named directly, it is the user's mistake: an error, still without opening it.
    assert walk(notes / "pipe.txt") == ([], {}, {str(notes / "pipe.txt"): "not a regular file (FIFO)"})


def test_a_socket_and_a_device_are_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notes = tmp_path / "notes"
    a = write(notes, "a.md", "text")
    monkeypatch.chdir(notes)  # a socket's path is limited to about 100 bytes; bind it by a short relative one
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind("s.sock")
        (notes / "null.txt").symlink_to(os.devnull)
        files, warnings, _ = walk(notes)
        assert files == [a]
        assert warnings == {str(notes / "null.txt"): f"link to {os.devnull} {LINK_OUT.format(root=notes)}",
                            str(notes / "s.sock"): "not a regular file (socket); skipped"}
        _, warnings, _ = walk(notes, follow_links=True)
        assert warnings[str(notes / "null.txt")] == "not a regular file (character device); skipped"
    finally:
        sock.close()


def test_order_is_sorted_and_a_folder_of_only_skipped_things_is_still_an_error(tmp_path: Path, secret: Path) -> None:
    notes = tmp_path / "notes"
    (notes / "x").mkdir(parents=True)
    (notes / "x" / "out.txt").symlink_to(secret)
    os.mkfifo(notes / "a.fifo")
    items = list(expand_paths([notes]))
    out = [i for i in items if isinstance(i, LoadError)]
    assert len(out) == len(items)
    assert [(type(i).__name__, i.where) for i in out] == [
        ("LoadWarning", str(notes / "a.fifo")), ("LoadWarning", str(notes / "x" / "out.txt")),
        ("LoadError", str(notes))]
    assert out[-1].reason.startswith("folder holds no .txt")
    names = ["b.txt", "a/z.md", "a/b/c.html", "A.txt", "a/a.jsonl", "é.txt", "a b/x.txt"]
    for n in names:
        write(tmp_path / "sorted", n, "text")
    assert list(expand_paths([tmp_path / "sorted"])) == sorted(tmp_path / "sorted" / n for n in names)


def test_a_broken_link_is_reported_when_it_would_have_been_ingested(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    a = write(notes, "a.txt", "text")
    (notes / "gone.md").symlink_to(notes / "missing.md")
    (notes / "gone.so").symlink_to(notes / "missing.so")  # not a document either way: not worth a line
    files, warnings, _ = walk(notes)
    assert files == [a]
    assert warnings == {str(notes / "gone.md"): f"link to {notes / 'missing.md'} cannot be read "
                                                "(No such file or directory); skipped"}


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder")
def test_an_unreadable_subfolder_is_an_error(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    a = write(notes, "a.txt", "text")
    write(notes, "locked/b.txt", "text")
    (notes / "locked").chmod(0)
    try:
        files, warnings, errors = walk(notes)
    finally:
        (notes / "locked").chmod(0o755)
    assert files == [a] and warnings == {}
    assert errors == {str(notes / "locked"): "cannot read folder (Permission denied)"}
