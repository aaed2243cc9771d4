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
    assert state.sent_text == "Hello world!" and state.chunks == 3 and state.tokens == 2  # "world!" is one word


def test_other_chunks_become_json_lines():
    chunks: list = ["text", {"step": 1}, [1, 2], "tail"]
    state = StreamState(chunks)
    assert state.take_delta() == 'text\n{"step": 1}\n[1, 2]\ntail'


def test_token_counts():
    assert _count_tokens("a b  c\n") == 3
    big = "tok " * 100_000
    assert _count_tokens(big) == 100_000


def test_the_handlers_own_tokenizer_counts_tokens():
    chunks: list = ["abc", "def"]
    state = StreamState(chunks, tokenizer=len)  # e.g. one token per character
    state.take_delta()
    assert state.tokens == 6


def test_a_view_uses_the_tokenizer_registered_with_the_handler(runtime):
    from rp_jupyter.widgets import JobView

    def handler(job):
        yield from ["ab", "cd"]

    runtime.register(handler, "chars", tokenizer=len)
    job = runtime.submit("chars", {"input": {}}).wait(10)
    view = JobView(job)
    assert view.stats["tokens"] == 4 and view.stats["chunks"] == 2


def test_a_view_opened_after_the_job_ran_shows_the_jobs_own_timings(runtime):
    import time

    from rp_jupyter.widgets import JobView

    def handler(job):
        time.sleep(0.2)
        for word in ["one ", "two ", "three "]:
            yield word
            time.sleep(0.1)

    runtime.register(handler, "late")
    job = runtime.submit("late", {"input": {}}).wait(10)
    time.sleep(0.5)  # the view opens long after the job ended (%rp_jobs, %rp_ui history, the sidebar)
    stats = JobView(job).stats
    # The job's own times, not the view's (which saw every chunk ~0.5 s after the job ended).
    assert stats["ttfc_ms"] == round((job._t_first_chunk - job._t_start) * 1000), stats
    assert stats["chunks_per_s"] == round(3 / (job._t_last_chunk - job._t_first_chunk), 1), stats
    assert stats["chunks"] == 3 and 150 <= stats["ttfc_ms"] < 450 + 400, stats  # first chunk ~200 ms in, not ~1000


def test_many_views_streaming_at_once_share_one_update_budget():
    import threading
    import time

    from rp_jupyter.widgets._clock import Clock

    clock, flushes, lock = Clock(hz=20, budget=30), [], threading.Lock()

    class View:
        def flush(self) -> None:
            with lock:
                flushes.append(time.monotonic())

    views = [View() for _ in range(12)]
    started = time.monotonic()
    while time.monotonic() - started < 1.0:  # twelve streams, each dirty all the time
        for view in views:
            clock.mark(view)
        time.sleep(0.002)
    elapsed = time.monotonic() - started
    time.sleep(0.5)  # let the last round end
    sent = [t for t in flushes if t <= started + elapsed]
    assert 12 <= len(sent) <= 30 * elapsed + 12, len(sent)  # ~30 a second in all (20 x 12 = 240 without the budget)


def test_a_word_split_across_two_updates_counts_once():
    from rp_jupyter.widgets._state import StreamState

    chunks: list[str] = []
    state = StreamState(chunks)
    for piece in ["hel", "lo wor", "ld ", "again"]:  # each piece is one update (a flush)
        chunks.append(piece)
        state.take_delta()
    assert state.tokens == 3  # hello, world, again
