"""DynamicBatcher on its own: merging, limits, threads, failure isolation, draining."""

from __future__ import annotations

import asyncio
import threading

import pytest

from conftest import run
from ember.serve import Unavailable
from ember.serve.batcher import DynamicBatcher


def test_merges_up_to_max_rows_and_runs_off_the_loop():
    seen: list[list[int]] = []
    threads: set[int] = set()

    def double(items: list[int]) -> list[int]:
        seen.append(items)
        threads.add(threading.get_ident())
        return [2 * i for i in items]

    async def main():
        b = DynamicBatcher(double, max_batch_size=4, max_delay_s=0.05, max_queue=100)
        # rows: item i has i % 3 + 1 rows
        out = await asyncio.gather(*(b.submit(i, i % 3 + 1) for i in range(30)))
        await b.close()
        return out, threading.get_ident()

    out, loop_thread = run(main())
    assert out == [2 * i for i in range(30)]
    assert loop_thread not in threads
    assert sorted(i for batch in seen for i in batch) == list(range(30))
    assert all(sum(i % 3 + 1 for i in batch) <= 4 for batch in seen)
    assert max(len(batch) for batch in seen) > 1


def test_a_failing_request_fails_alone():
    def run_batch(items: list[int]) -> list[int]:
        if 13 in items:
            raise ValueError("13 is unlucky")
        return items

    async def main():
        b = DynamicBatcher(run_batch, max_batch_size=8, max_delay_s=0.05, max_queue=100)
        out = await asyncio.gather(*(b.submit(i, 1) for i in range(10, 18)), return_exceptions=True)
        await b.close()
        return out

    out = run(main())
    assert isinstance(out[3], ValueError) and "unlucky" in str(out[3])
    assert [o for i, o in enumerate(out) if i != 3] == [10, 11, 12, 14, 15, 16, 17]


def test_close_drains_then_refuses():
    release = threading.Event()

    def slow(items: list[int]) -> list[int]:
        release.wait(10)  # bounded
        return items

    async def main():
        b = DynamicBatcher(slow, max_batch_size=2, max_delay_s=0.0, max_queue=10)
        tasks = [asyncio.ensure_future(b.submit(i, 1)) for i in range(5)]
        await asyncio.sleep(0.01)
        closing = asyncio.ensure_future(b.close())
        await asyncio.sleep(0.01)
        with pytest.raises(Unavailable, match="unloading"):
            await b.submit(99, 1)
        assert b.pending() == 5 and not closing.done()
        release.set()
        await closing
        return await asyncio.gather(*tasks), b.pending()

    out, pending = run(main())
    assert out == [0, 1, 2, 3, 4] and pending == 0


def test_a_cancelled_caller_does_not_break_the_batch():
    def echo(items: list[int]) -> list[int]:
        return items

    async def main():
        b = DynamicBatcher(echo, max_batch_size=4, max_delay_s=0.02, max_queue=10)
        gone = asyncio.ensure_future(b.submit(1, 1))
        stays = asyncio.ensure_future(b.submit(2, 1))
        await asyncio.sleep(0)
        gone.cancel()
        got = await stays
        await b.close()
        return got, b.pending()

    assert run(main()) == (2, 0)
