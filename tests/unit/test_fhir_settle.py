"""``settle``: FHIR reads under one deadline — done, failed or cancelled, and none started without time left."""

from __future__ import annotations

import asyncio

import pytest

from cds_service.fhir.client import settle


@pytest.mark.anyio
async def test_reads_finish_or_are_cancelled_at_the_deadline() -> None:
    """A read that ends in time keeps its result, a failing one its error, and one still running at the deadline is cancelled."""

    async def read(seconds: float, fail: bool = False) -> str:
        await asyncio.sleep(seconds)
        if fail:
            raise ValueError("read failed")
        return "read"

    fast, failing, slow = (asyncio.create_task(read(0)), asyncio.create_task(read(0, fail=True)),
                           asyncio.create_task(read(30)))  # fmt: skip
    await settle([fast, failing, slow], 0.2)
    assert fast.result() == "read"
    assert isinstance(failing.exception(), ValueError)
    assert slow.cancelled()


@pytest.mark.anyio
@pytest.mark.parametrize("seconds", [0, -1.0])
async def test_no_read_starts_without_time_left(seconds: float) -> None:
    """With the deadline spent, every read is cancelled before its first step: no request goes out."""
    started: list[int] = []

    async def read(n: int) -> None:
        started.append(n)

    tasks = [asyncio.create_task(read(n)) for n in range(3)]
    await settle(tasks, seconds)
    assert started == [] and all(task.cancelled() for task in tasks)
