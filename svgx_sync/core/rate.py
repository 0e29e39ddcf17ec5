"""How often one connection may act: a token bucket, with the clock passed in (for joins
that create documents, and for operations when ``ops_per_second`` sets a cap).

A bucket holds up to ``burst`` tokens and gains ``rate`` tokens a second; each action
takes one. A full bucket lets a client act ``burst`` times at once (pasting, undoing a
group), then ``rate`` times a second for as long as it keeps on. What is refused takes
nothing, so a client that slows down gets its share back at once.
"""

from __future__ import annotations

__all__ = ["TokenBucket"]


class TokenBucket:
    """``rate`` actions a second, ``burst`` at once; :meth:`take` says whether one may go."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    def take(self, now: float, cost: float = 1.0) -> bool:
        """Take ``cost`` tokens at time ``now`` (seconds, any monotonic origin) if there
        are that many; False, taking nothing, if not."""
        elapsed = now - self.stamp
        if elapsed > 0:
            self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
            self.stamp = now
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False

    def wait(self, cost: float = 1.0) -> float:
        """Seconds until ``cost`` tokens are there (0 when they are now)."""
        return max(0.0, (cost - self.tokens) / self.rate)
