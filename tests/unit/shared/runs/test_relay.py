"""The pure parts of `shared.runs.relay`: stream id order and a follower's inbox."""
from shared.runs.relay import Entry, Follower, order


def entries(*ids: str) -> list[tuple[tuple[int, int], Entry]]:
    return [(order(entry_id), Entry(entry_id, {b"e": entry_id.encode()})) for entry_id in ids]


def test_order_compares_numerically() -> None:
    assert order("1700000000000-10") > order("1700000000000-9")
    assert order("1700000000001-0") > order("1700000000000-99")
    assert order("5") == (5, 0)


def test_a_follower_takes_what_it_was_handed_in_order() -> None:
    follower = Follower("s", "0-0")
    follower.hand(entries("1-0", "1-1"))
    follower.hand(entries("2-0"))
    assert [e.id for e in follower.take(0)] == ["1-0", "1-1", "2-0"]
    assert follower.take(0) == []


def test_a_follower_skips_what_it_already_has() -> None:
    follower = Follower("s", "1-1")
    follower.hand(entries("1-0", "1-1", "1-2"))
    # Handed again (a read that overlapped the follower's own catch-up): nothing twice.
    follower.hand(entries("1-2", "2-0"))
    assert [e.id for e in follower.take(0)] == ["1-2", "2-0"]


def test_take_waits_no_longer_than_asked() -> None:
    assert Follower("s", "0-0").take(0.01) == []
