"""The asyncio Scheduler: batching many streams changes no result, backpressure, closing, failures.

Oracle: each stream decoded alone with `decode_sessions` (one session, one chunk per step). With
one encoder chunk per step the chunks of a stream do not depend on timing, so every result of a
stream (partials included) must be the same whether it ran alone or batched with others that
started at other times, with other look-aheads, decoding methods and sample rates.
"""

from __future__ import annotations

import asyncio
import gc
import weakref

import numpy as np
import pytest
from stream_helpers import feed_sizes, speechlike, tiny_model
from transduce.asr.audio import NonFiniteAudioError, PCMFormatError
from transduce.streaming import (
    EndpointConfig,
    Scheduler,
    SchedulerConfig,
    Session,
    SessionClosedError,
    SessionConfig,
    SessionConfigError,
    SessionFailedError,
    decode_sessions,
)

MODEL = tiny_model("tdt")
ENDPOINT = EndpointConfig(silence_after_speech_s=0.3, silence_no_speech_s=0.6, max_utterance_s=1.2)


def _key(results):
    return [(r.text, r.tokens, r.is_final, r.utterance_index, r.start_s, r.end_s, r.endpoint,
             round(r.stability, 9)) for r in results]


def _alone(cfg: SessionConfig, audio: np.ndarray, seed: int):
    s = Session(MODEL, cfg)
    results, pos = [], 0
    for n in feed_sizes(len(audio), seed):
        s.accept(audio[pos:pos + n])
        pos += n
        decode_sessions(MODEL, [s])
        results += s.pop_results()
    s.finish()
    decode_sessions(MODEL, [s])
    return results + s.pop_results()


async def _produce(handle, audio, seed, delay_s=0.0, pause_s=0.0):
    await asyncio.sleep(delay_s)
    pos = 0
    for n in feed_sizes(len(audio), seed):
        await handle.feed(audio[pos:pos + n])
        pos += n
        await asyncio.sleep(pause_s)
    await handle.finish()


async def _collect(handle):
    return [r async for r in handle]


def _streams():
    """(config, audio, feed seed, start delay) of streams of different lengths and settings."""
    out = []
    for i in range(6):
        rate = 8000 if i == 4 else 16000
        cfg = SessionConfig(sample_rate=rate, lookahead=i % 3, decoding="beam" if i % 2 else "greedy",
                            beam_size=2, endpoint=ENDPOINT)
        out.append((cfg, speechlike(0.8 + 0.3 * i, seed=20 + i, rate=rate), i, 0.01 * (i % 3)))
    return out


def test_batched_streams_give_the_results_each_gives_alone():
    streams = _streams()

    async def main():
        async with Scheduler(MODEL, SchedulerConfig(max_batch=4, max_wait_ms=2.0)) as sched:
            handles = [sched.open(cfg) for cfg, *_ in streams]
            tasks = [_produce(h, a, seed, delay, 0.001) for h, (_, a, seed, delay) in zip(handles, streams)]
            got = await asyncio.gather(*[_collect(h) for h in handles], *tasks)
            assert sched.active_streams == 0
            return got[:len(handles)], sched.stats

    got, stats = asyncio.run(main())
    assert stats.max_batch_seen > 1 and stats.max_batch_seen <= 4 and stats.failures == 0
    for (cfg, audio, seed, _), results in zip(streams, got):
        expect = _alone(cfg, audio, seed)
        assert _key(results) == _key(expect)
        assert results[-1].is_final
    assert sum(len(r) for r in got) > 20


def _is_subsequence(part, whole):
    it = iter(whole)
    return all(x in it for x in part)


def test_a_reader_that_does_not_read_gets_every_final_and_the_newest_partials():
    """Nobody reads while the whole stream is fed: the stream is not held back by its partials (the
    newest replaces the newest unread one), so feeding completes; then every final is there, the
    partials read are a subsequence of the partials made, and the unread backlog stayed bounded."""
    cfg = SchedulerConfig(max_batch=2, max_wait_ms=0.0, result_queue_size=4)
    audio = speechlike(3.0, seed=3)
    session_cfg = SessionConfig(endpoint=EndpointConfig(silence_after_speech_s=0.3, silence_no_speech_s=0.6,
                                                        max_utterance_s=1.5))

    async def main():
        async with Scheduler(MODEL, cfg) as sched:
            handle = sched.open(session_cfg)
            backlog = []

            async def watch():
                while True:
                    backlog.append(len(handle._results))
                    await asyncio.sleep(0.002)

            watcher = asyncio.create_task(watch())
            await asyncio.wait_for(_produce(handle, audio, seed=1), 30)  # never waits on the reader
            await asyncio.wait_for(until_ended(handle), 30)
            watcher.cancel()
            return await _collect(handle), max(backlog), sched.stats.coalesced

    got, most_unread, coalesced = asyncio.run(main())
    alone = _alone(session_cfg, audio, seed=1)
    assert 2 <= sum(r.is_final for r in alone) < cfg.result_queue_size
    assert _key([r for r in got if r.is_final]) == _key([r for r in alone if r.is_final])
    partials = [r for r in alone if not r.is_final]
    assert _is_subsequence(_key([r for r in got if not r.is_final]), _key(partials))
    assert coalesced > 0 and len(got) < len(alone)
    assert most_unread <= cfg.result_queue_size + 2  # + the end marker


async def until_ended(handle):
    """Wait until the stream has ended (its last step applied, its results queued)."""
    while not handle.closed:
        await asyncio.sleep(0.005)


def test_unread_finals_hold_a_fast_producer_back():
    """Finals are never dropped: a stream holding result_queue_size unread finals is not stepped, its
    pending frames grow and feed() waits, until the reader reads; then every result arrives."""
    cfg = SchedulerConfig(max_batch=2, max_wait_ms=0.0, max_pending_frames=30, result_queue_size=2)
    audio = speechlike(3.0, seed=3)
    session_cfg = SessionConfig(interim_results=False, endpoint=EndpointConfig(max_utterance_s=0.2))

    async def main():
        async with Scheduler(MODEL, cfg) as sched:
            handle = sched.open(session_cfg)
            producer = asyncio.create_task(_produce(handle, audio, seed=1))
            for _ in range(500):  # until the producer is held back
                await asyncio.sleep(0.01)
                if not handle._room.is_set():
                    break
            await asyncio.sleep(0.1)
            assert not producer.done(), "the producer was never held back"
            assert len(handle._results) <= cfg.result_queue_size
            assert handle.session.pending_frames <= cfg.max_pending_frames + 4000 // 160 + 1
            got = await _collect(handle)  # reading lets it go on
            await producer
            return got

    got = asyncio.run(main())
    expect = _alone(session_cfg, audio, seed=1)
    assert len(expect) > 2 * cfg.result_queue_size and all(r.is_final for r in expect)
    assert _key(got) == _key(expect)


def test_closing_a_stream_drops_its_state_at_once():
    async def main():
        async with Scheduler(MODEL, SchedulerConfig(max_wait_ms=0.0)) as sched:
            handle, other = sched.open(), sched.open()
            await handle.feed(speechlike(1.0, seed=1))
            for _ in range(200):  # until a step has run
                await asyncio.sleep(0.01)
                if handle.session._frames > 0:
                    break
            refs = [weakref.ref(handle.session.encoder_state), weakref.ref(handle.session.decoder_state)]
            handle.close()
            assert sched.active_streams == 1
            assert handle.session.encoder_state is None and handle.session.frontend is None
            with pytest.raises(SessionClosedError):
                await handle.feed(np.zeros(160, dtype=np.float32))
            assert [r async for r in handle] == []
            await asyncio.sleep(0.05)
            gc.collect()
            assert all(r() is None for r in refs)
            await other.feed(speechlike(0.5, seed=2))
            await other.finish()
            assert (await _collect(other))[-1].is_final
            assert sched.active_streams == 0

    asyncio.run(main())


def test_one_large_message_goes_in_pieces_under_backpressure():
    """8 s of audio in one feed() (PCM16 bytes and floats): the session never holds more than
    max_pending_frames plus one piece of features, and the results equal feeding it in small chunks.
    When the streams end the scheduler gives freed heap memory back (one trim for both)."""
    cfg = SchedulerConfig(max_batch=2, max_wait_ms=0.0, max_pending_frames=40, feed_piece_s=0.25)
    session_cfg = SessionConfig(endpoint=ENDPOINT)
    audio = speechlike(8.0, seed=5)
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")

    async def main():
        async with Scheduler(MODEL, cfg) as sched:
            most = [0]
            handles = [sched.open(session_cfg), sched.open(session_cfg)]

            async def watch():
                while True:
                    most[0] = max([most[0]] + [h.session.pending_frames for h in handles])
                    await asyncio.sleep(0.001)

            async def one(handle, data):
                await handle.feed(data)
                await handle.finish()

            watcher = asyncio.create_task(watch())
            got = await asyncio.gather(*[_collect(h) for h in handles], one(handles[0], pcm.tobytes()),
                                       one(handles[1], pcm.astype(np.float32) / 32768))
            watcher.cancel()
            await asyncio.sleep(sched.heap.interval_s + 0.2)
            return got[:2], most[0], sched.heap.trims

    (as_bytes, as_floats), most, trims = asyncio.run(main())
    assert most <= cfg.max_pending_frames + 25 + 2  # one 0.25 s piece is 25 frames
    expect = _alone(session_cfg, pcm.astype(np.float32) / 32768, seed=2)
    assert _key(as_bytes) == _key(expect) and _key(as_floats) == _key(expect)
    assert trims >= 1


def test_bad_audio_fails_only_its_own_stream():
    good_audio = speechlike(1.5, seed=7)
    cfg = SessionConfig(endpoint=ENDPOINT)

    async def main():
        async with Scheduler(MODEL, SchedulerConfig(max_wait_ms=5.0)) as sched:
            good, odd, nan = sched.open(cfg), sched.open(cfg), sched.open(cfg)
            consumer = asyncio.create_task(_collect(good))
            producer = asyncio.create_task(_produce(good, good_audio, seed=3, pause_s=0.001))
            await odd.feed(b"\x00\x01" * 800)
            with pytest.raises(PCMFormatError, match="odd number of bytes"):
                await odd.feed(b"\x00\x01\x02")
            bad = speechlike(0.2, seed=1)
            bad[100] = np.nan
            with pytest.raises(NonFiniteAudioError):
                await nan.feed(bad)
            odd.close()
            nan.close()
            await producer
            return await consumer

    assert _key(asyncio.run(main())) == _key(_alone(cfg, good_audio, seed=3))


def test_a_failing_model_step_fails_only_that_stream():
    audio = speechlike(1.2, seed=5)
    cfg = SessionConfig(endpoint=ENDPOINT)

    async def main():
        async with Scheduler(MODEL, SchedulerConfig(max_wait_ms=20.0)) as sched:
            broken, healthy = sched.open(cfg), sched.open(cfg)
            broken.session.encoder_state = None  # fault injection: this stream's step cannot run
            await broken.feed(audio)
            tasks = asyncio.gather(_collect(healthy), _produce(healthy, audio, seed=2))
            with pytest.raises(SessionFailedError, match="model step"):
                await broken.result()
            assert broken.closed and broken.session.closed
            got = (await tasks)[0]
            return got, sched.stats.failures

    got, failures = asyncio.run(main())
    assert failures == 1
    assert _key(got) == _key(_alone(cfg, audio, seed=2))


def test_scheduler_settings_and_state_are_checked():
    with pytest.raises(SessionConfigError, match="max_batch"):
        SchedulerConfig(max_batch=0)
    with pytest.raises(SessionConfigError, match="not running"):
        Scheduler(MODEL).open()


def test_closing_an_ended_stream_keeps_its_results():
    async def main():
        async with Scheduler(MODEL, SchedulerConfig(max_wait_ms=0.0)) as sched:
            handle = sched.open(SessionConfig(endpoint=EndpointConfig(enabled=False)))
            await handle.feed(speechlike(0.6, seed=4))
            await handle.finish()
            for _ in range(300):
                await asyncio.sleep(0.01)
                if handle.closed:
                    break
            handle.close()
            return await _collect(handle)

    results = asyncio.run(main())
    assert results and results[-1].is_final
