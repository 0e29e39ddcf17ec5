"""The token bucket, with the clock passed in, and the connections that fit a file limit."""

from __future__ import annotations

from svgx_sync.core.limits import FD_RESERVE, connections_that_fit
from svgx_sync.core.rate import TokenBucket


def test_a_full_bucket_allows_a_burst_then_refuses():
    bucket = TokenBucket(rate=10, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]


def test_tokens_come_back_at_the_rate_and_never_past_the_burst():
    bucket = TokenBucket(rate=10, burst=3, now=0.0)
    for _ in range(3):
        bucket.take(0.0)
    assert not bucket.take(0.05)  # half a token back
    assert bucket.take(0.1)  # one whole token
    assert not bucket.take(0.1)
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]


def test_a_refused_action_takes_nothing():
    bucket = TokenBucket(rate=1, burst=1, now=0.0)
    assert bucket.take(0.0)
    for step in range(9):
        assert not bucket.take(step / 10)
    assert bucket.take(1.0)


def test_a_clock_that_goes_back_gives_nothing():
    bucket = TokenBucket(rate=10, burst=2, now=5.0)
    bucket.take(5.0)
    bucket.take(5.0)
    assert not bucket.take(1.0)
    assert bucket.take(5.2)


def test_wait_says_when_the_next_token_comes():
    bucket = TokenBucket(rate=4, burst=1, now=0.0)
    assert bucket.wait() == 0.0
    bucket.take(0.0)
    assert bucket.wait() == 0.25
    assert not bucket.take(0.2) and bucket.take(0.25)


def test_connections_fit_the_open_file_limit_less_a_reserve():
    assert connections_that_fit(1000, None) == 1000
    assert connections_that_fit(1000, 20000) == 1000
    assert connections_that_fit(1000, 1024) == 1024 - 102
    assert connections_that_fit(1000, 256) == 256 - FD_RESERVE
    assert connections_that_fit(10, 256) == 10
    assert connections_that_fit(1000, 16) == 1
