"""Reading and following node log files (what ``flobc net logs`` prints)."""

from __future__ import annotations

import threading
import time
from io import StringIO
from pathlib import Path

import pytest

from flobc.orchestration.logs import follow, print_logs

pytestmark = pytest.mark.timeout(30)


def test_print_and_follow_logs(tmp_path: Path) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_text("a1\na2\n")
    b.write_text("b1\n")
    out = StringIO()
    print_logs([("validator-0", a), ("trainer-10", b)], out, lines=1)
    assert out.getvalue() == "validator-0 | a2\ntrainer-10  | b1\n"
    out = StringIO()
    print_logs([("validator-0", a)], out)
    assert out.getvalue() == "a1\na2\n"

    c = tmp_path / "c.log"  # appears only once following has begun
    out, done = StringIO(), threading.Event()

    def write() -> None:
        time.sleep(0.2)
        with open(a, "a") as fh:
            fh.write("a3\npart")
        c.write_text("c1\n")
        time.sleep(0.2)
        with open(a, "a") as fh:
            fh.write("ial\n")
        time.sleep(0.3)
        done.set()

    threading.Thread(target=write).start()
    follow([("a", a), ("c", c)], out, poll_s=0.05, stop=done.is_set)
    assert sorted(out.getvalue().splitlines()) == ["a | a3", "a | partial", "c | c1"]
