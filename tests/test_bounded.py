"""forget_oldest keeps per-origin memories bounded, also while threads change them."""

from __future__ import annotations

import threading

from tokensources._bounded import forget_oldest


def test_the_entries_inserted_longest_ago_go_first() -> None:
    entries = dict.fromkeys("abcdef")

    forget_oldest(entries, 3)

    assert list(entries) == ["d", "e", "f"]


def test_within_the_bound_nothing_goes() -> None:
    entries = {"a": 1, "b": 2}

    forget_oldest(entries, 2)
    forget_oldest({}, 0)

    assert entries == {"a": 1, "b": 2}


def test_threads_adding_and_forgetting_at_once_never_fail() -> None:
    """8 threads, 2 000 insertions each, into one dictionary bounded to 16: no error, bound kept."""
    entries: dict[tuple[int, int], None] = {}
    errors: list[BaseException] = []

    def work(thread: int) -> None:
        try:
            for i in range(2_000):
                entries[(thread, i)] = None
                entries.pop((thread, i - 3), None)
                forget_oldest(entries, 16)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    forget_oldest(entries, 16)
    assert len(entries) <= 16
