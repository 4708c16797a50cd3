"""The token buckets behind the per-client rate limit, on a clock the tests move by hand.

test_abuse.py checks the limit over HTTP against a real relay, on every route family.
"""

import pytest

from relay_server.middleware.rate_limit import TokenBuckets, retry_after_s


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_client_may_send_a_burst_then_waits_for_the_next_token():
    clock = Clock()
    buckets = TokenBuckets(rate_per_s=2, burst=3, clock=clock)
    assert [buckets.take("alpha") for _ in range(3)] == [0, 0, 0]
    assert buckets.take("alpha") == pytest.approx(0.5)
    clock.now += 0.5
    assert buckets.take("alpha") == 0
    assert buckets.take("alpha") == pytest.approx(0.5)


def test_a_refused_request_costs_no_token():
    clock = Clock()
    buckets = TokenBuckets(rate_per_s=1, burst=1, clock=clock)
    assert buckets.take("alpha") == 0
    for _ in range(5):
        assert buckets.take("alpha") == pytest.approx(1.0)
    clock.now += 1
    assert buckets.take("alpha") == 0


def test_an_idle_client_refills_only_up_to_its_burst():
    clock = Clock()
    buckets = TokenBuckets(rate_per_s=10, burst=2, clock=clock)
    buckets.take("alpha")
    clock.now += 3600
    assert [buckets.take("alpha") for _ in range(3)] == [0, 0, pytest.approx(0.1)]


def test_clients_have_buckets_of_their_own():
    buckets = TokenBuckets(rate_per_s=1, burst=1, clock=Clock())
    assert buckets.take("alpha") == 0
    assert buckets.take("alpha") > 0
    assert buckets.take("beta") == 0


def test_the_least_recently_used_buckets_are_dropped_past_the_cap():
    buckets = TokenBuckets(rate_per_s=1, burst=1, clock=Clock(), max_keys=3)
    for client in ("a", "b", "c", "d"):
        buckets.take(client)
    assert len(buckets) == 3
    assert buckets.take("b") > 0  # kept: still empty
    assert buckets.take("a") == 0  # dropped: starts full again


@pytest.mark.parametrize(("wait", "header"), [(0.001, 1), (1.0, 1), (1.2, 2), (59.5, 60)])
def test_retry_after_is_whole_seconds_rounded_up(wait, header):
    assert retry_after_s(wait) == header


@pytest.mark.parametrize(("rate", "burst"), [(0, 5), (-1, 5), (1, 0)])
def test_a_bucket_needs_a_positive_rate_and_burst(rate, burst):
    with pytest.raises(ValueError, match="positive rate"):
        TokenBuckets(rate_per_s=rate, burst=burst)
