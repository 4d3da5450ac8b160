"""The restart schedule ``lupa run`` announces: 0.5 s doubling to 30 s, afresh after a minute up."""

from __future__ import annotations

import signal

from lupa.supervisor import STABLE_AFTER_S, _Restartable, backoff, describe_exit


def test_backoff_doubles_to_a_cap_and_keeps_retrying() -> None:
    assert [backoff(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert backoff(1000) == 30


def test_a_child_that_stayed_up_a_while_starts_the_backoff_afresh() -> None:
    child = _Restartable("dsar worker", up_since=0.0)
    for now in (1.0, 2.0, 3.0):
        child.went_down(now, "exited with code 1")
        child.came_up(now, pid=1)
    child.went_down(3.5, "exited with code 1")
    assert child.restart_at == 3.5 + 4  # the fourth quick failure waits 4 s
    child.came_up(4.0, pid=2)
    child.went_down(4.0 + STABLE_AFTER_S, "exited with code 1")
    assert child.restart_at == 4.0 + STABLE_AFTER_S + 0.5


def test_exit_descriptions_name_the_signal_or_the_code() -> None:
    assert describe_exit(-signal.SIGKILL) == "was killed by SIGKILL"
    assert describe_exit(3) == "exited with code 3"
