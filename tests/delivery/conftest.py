"""Shared helpers: a fake clock whose sleep records delays and advances time instantly."""

from __future__ import annotations

import pytest

from engine.delivery.retry import RetryPolicy


class FakeClock:
    """Monotonic and wall clocks that only move when `sleep` is awaited."""

    def __init__(self, wall: float = 1_700_000_000.0) -> None:
        self.now = 0.0
        self.wall_start = wall
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.wall_start + self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def policy(self, rand: float = 0.5, **kwargs: float) -> RetryPolicy:
        return RetryPolicy(
            sleep=self.sleep, clock=self.monotonic, wall_clock=self.wall, rand=lambda: rand, **kwargs
        )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
