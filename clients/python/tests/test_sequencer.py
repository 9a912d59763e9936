"""The resume/reorder logic on its own, frame by frame (the real-gateway tests are in
test_resume.py): ordering, deduplication, gaps, resets."""

from __future__ import annotations

from typing import Any

from ws_bridge import Position, Reset, SequencedMessage
from ws_bridge._resume import Item, Sequencer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def live(seq: int, channel: str = "c") -> dict[str, Any]:
    return {"type": "message", "channel": channel, "seq": seq, "data": {"n": seq}}


def history(*seqs: int, channel: str = "c") -> dict[str, Any]:
    return {
        "type": "history",
        "channel": channel,
        "messages": [{"seq": s, "data": {"n": s}} for s in seqs],
    }


def subscribed(seq: int, epoch: str = "e1", channel: str = "c") -> dict[str, Any]:
    return {"channels": [channel], "positions": {channel: {"seq": seq, "epoch": epoch}}}


def seqs(items: list[Item] | None) -> list[Any]:
    assert items is not None
    return [
        f"reset {i.seq}" if isinstance(i, Reset) else i.seq
        for i in items
        if isinstance(i, (Reset, SequencedMessage))
    ]


def started(seq: int = 0, epoch: str = "e1", clock: Clock | None = None) -> Sequencer:
    sequencer = Sequencer({}, 1.0, clock or Clock())
    assert sequencer.begin_sync(["c"]) == {"action": "subscribe", "channels": ["c"]}
    assert sequencer.end_sync(subscribed(seq, epoch)) == []
    return sequencer


def test_a_first_subscribe_starts_after_the_latest_and_drops_what_came_meanwhile() -> None:
    sequencer = Sequencer({}, 1.0)
    sequencer.begin_sync(["c"])
    assert sequencer.on_frame(live(5)) == []  # held while the subscribe is in flight
    assert sequencer.on_frame(live(7)) == []
    assert seqs(sequencer.end_sync(subscribed(5))) == []  # 5 is before the position
    assert sequencer.positions == {"c": Position(5, "e1")}
    assert seqs(sequencer.on_frame(live(6))) == [6, 7]


def test_out_of_order_live_messages_are_reordered_and_duplicates_dropped() -> None:
    sequencer = started()
    assert seqs(sequencer.on_frame(live(2))) == []
    assert seqs(sequencer.on_frame(live(3))) == []
    assert seqs(sequencer.on_frame(live(1))) == [1, 2, 3]
    assert seqs(sequencer.on_frame(live(2))) == []
    assert sequencer.next_deadline() is None


def test_a_resume_sends_since_and_delivers_history_then_buffered_in_order_once() -> None:
    sequencer = started()
    assert seqs(sequencer.on_frame(live(1))) == [1]
    sequencer.connection_lost()
    frame = sequencer.begin_sync(["c"])
    assert frame["since"] == {"c": {"seq": 1, "epoch": "e1"}}
    assert sequencer.on_frame(live(5)) == []  # live, racing the replay
    assert sequencer.on_frame(history(2, 3)) == []
    assert sequencer.on_frame(history(4)) == []
    items = sequencer.end_sync(subscribed(4))
    assert seqs(items) == [2, 3, 4, 5]
    assert [i.replayed for i in items if isinstance(i, SequencedMessage)] == [
        True,
        True,
        True,
        False,
    ]


def test_a_gap_is_fetched_after_the_timeout_and_never_waited_for_again() -> None:
    clock = Clock()
    sequencer = started(clock=clock)
    assert seqs(sequencer.on_frame(live(2))) == []
    assert sequencer.next_deadline() == clock.now + 1.0
    assert sequencer.due() == []
    clock.now += 1.0
    assert sequencer.due() == ["c"]
    assert sequencer.due() == [], "once"
    frame = sequencer.begin_sync(["c"])
    assert frame["since"] == {"c": {"seq": 0, "epoch": "e1"}}
    # The server no longer has 1: the reply says the latest is 3 without history frames.
    assert sequencer.on_frame(live(3)) == []
    assert seqs(sequencer.end_sync(subscribed(3))) == [2, 3]
    sequencer.fetched("c")
    assert sequencer.next_deadline() is None


def test_a_reset_drops_what_it_covers_and_delivery_goes_on() -> None:
    sequencer = started(seq=3)
    sequencer.connection_lost()
    sequencer.begin_sync(["c"])
    reset = {"type": "reset", "channel": "c", "seq": 2, "epoch": "e2", "reason": "epoch changed"}
    assert sequencer.on_frame(live(3)) == []  # new numbering, arrived during the subscribe
    assert seqs(sequencer.on_frame(reset)) == ["reset 2"]
    assert seqs(sequencer.end_sync(subscribed(2, "e2"))) == [3]
    assert sequencer.positions == {"c": Position(3, "e2")}


def test_an_unknown_epoch_is_looked_up_with_since_seq_0() -> None:
    sequencer = started(seq=0, epoch="")
    assert seqs(sequencer.on_frame(live(1))) == [1]
    assert sequencer.due() == ["c"]
    assert sequencer.begin_sync(["c"])["since"] == {"c": {"seq": 0, "epoch": ""}}
    assert sequencer.on_frame(history(1)) == []
    assert seqs(sequencer.end_sync(subscribed(1, "e9"))) == []
    assert sequencer.positions == {"c": Position(1, "e9")}


def test_a_channel_without_history_passes_its_frames_through() -> None:
    sequencer = Sequencer({}, 1.0)
    sequencer.begin_sync(["news"])
    looks_like = {"type": "message", "channel": "news", "seq": 1, "data": {}}
    assert sequencer.on_frame(looks_like) == []
    assert sequencer.end_sync({"channels": ["news"]}) == [looks_like]
    assert sequencer.positions == {}
    assert sequencer.on_frame(looks_like) is None


def test_sequenced_message_is_the_posted_dict_with_metadata() -> None:
    message = SequencedMessage({"type": "x"}, channel="c", seq=4, epoch="e", replayed=True)
    assert message == {"type": "x"}
    assert (message.channel, message.seq, message.epoch, message.replayed) == ("c", 4, "e", True)
    assert Position.from_json({"seq": 4, "epoch": "e"}) == Position(4, "e")
