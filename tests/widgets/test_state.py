"""The view's stream state: deltas from a cursor over the job's stream, nothing lost or sent twice."""

from __future__ import annotations

from rp_jupyter.widgets._state import StreamState, _count_tokens


def test_deltas_cover_the_stream_exactly_once():
    chunks: list = []
    state = StreamState(chunks)
    chunks.extend(["Hello", " world"])
    assert state.take_delta() == "Hello world"
    chunks.append("!")
    assert state.full_text() == "Hello world!"  # a summary does not consume the next delta
    assert state.take_delta() == "!" and state.take_delta() == ""
    assert state.sent_text == "Hello world!" and state.chunks == 3 and state.tokens == 3


def test_other_chunks_become_json_lines():
    chunks: list = ["text", {"step": 1}, [1, 2], "tail"]
    state = StreamState(chunks)
    assert state.take_delta() == 'text\n{"step": 1}\n[1, 2]\ntail'


def test_token_counts():
    assert _count_tokens("a b  c\n") == 3
    big = "tok " * 100_000
    assert _count_tokens(big) == 100_000
