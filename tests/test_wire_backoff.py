"""The one backoff helper (gateway/wire/backoff.py) every retry loop of the gateway and the receiver uses.

Property-based: waits stay within [base * low, cap * high], the wait before jitter never shrinks and reaches the
cap, a deadline is never overrun by an offered wait, and no number of failures overflows. Then the figures each
caller documents, computed by the callers themselves (not copied here from the helper).
"""

from __future__ import annotations

import itertools
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.wire.backoff import MQTT_RECONNECT, Backoff, paho_reconnect_delays

positive = st.floats(min_value=1e-3, max_value=1e4, allow_nan=False, allow_infinity=False)
jitters = st.sampled_from([(1.0, 1.0), (0.8, 1.2), (0.9, 1.1), (0.5, 1.0)])


@st.composite
def policies(draw, deadline: bool = False) -> Backoff:
    base = draw(positive)
    cap = base * draw(st.floats(min_value=1.0, max_value=1e5))
    factor = draw(st.sampled_from([1.0, 1.5, 2.0, 3.0]))
    deadline_s = base * draw(st.floats(min_value=0.0, max_value=1000.0)) if deadline else None
    return Backoff(base, cap, factor, draw(jitters), deadline_s)


@given(policies(), st.integers(1, 10_000), st.integers(0, 2**32))
@settings(max_examples=300, deadline=None)
def test_every_wait_is_within_bounds(policy, failures, seed):
    low, high = policy.jitter
    wait = policy.delay(failures, random.Random(seed))
    assert math.isfinite(wait)
    assert policy.base_s * low * (1 - 1e-9) <= wait <= policy.cap_s * high * (1 + 1e-9)


@given(policies(), st.integers(1, 200))
@settings(max_examples=300, deadline=None)
def test_the_wait_grows_monotonically_to_the_cap_and_stays(policy, failures):
    ceilings = [policy.ceiling(n) for n in range(1, failures + 2)]
    assert ceilings[0] == pytest.approx(policy.base_s)
    assert all(a <= b for a, b in itertools.pairwise(ceilings))
    if policy.factor > 1:
        enough = math.ceil(math.log(policy.cap_s / policy.base_s, policy.factor)) + 1
        assert policy.ceiling(enough) == policy.cap_s
        assert policy.ceiling(10**9) == policy.cap_s  # no overflow after a billion failures


@given(policies(deadline=True), st.integers(0, 2**32))
@settings(max_examples=200, deadline=None)
def test_a_deadline_is_never_overrun(policy, seed):
    """Simulated clock: each offered wait is slept in full; the last one still ends before the deadline,
    and the iterator ends instead of offering one that would not."""
    now = [1000.0]
    waits = policy.delays(random.Random(seed), clock=lambda: now[0])
    offered = 0
    for wait in itertools.islice(waits, 10_000):
        offered += 1
        now[0] += wait
        assert now[0] < 1000.0 + policy.deadline_s
    assert offered < 10_000 and next(waits, None) is None  # it ended: no wait past the deadline was offered


def test_the_tracker_starts_again_after_a_success():
    t = Backoff(0.5, 4.0).tracker()
    assert [t.failed() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    t.succeeded()
    assert t.failed() == 0.5


@pytest.mark.parametrize(("args", "why"), [((0, 1), "base"), ((2, 1), "cap"), ((1, 2, 0.5), "factor"),
                                           ((1, 2, 2, (1.2, 0.8)), "jitter"), ((float("nan"), 1), "base")])
def test_a_nonsense_policy_is_refused(args, why):
    with pytest.raises(ValueError, match="backoff needs"):
        Backoff(*args)


def test_the_callers_documented_figures(tmp_path):
    """Each caller's own policy, as its docs state it."""
    from cloud_stub.outbox import Policy
    from gateway.provision.steps import Paths, run_with_retries
    from gateway.replay.uplink import RETRY_DELAYS_S
    from tests.support.processes import free_port

    # provisioning: 10 s doubling to 10 min, no jitter (gateway/commands/provision.py), as it sleeps them
    slept: list[float] = []
    boot = tmp_path / "boot"
    boot.mkdir()
    (boot / "edgeproof-provision.toml").write_text(
        f'profile = "sim-factory"\nreceiver = "http://127.0.0.1:{free_port()}"\ntoken = "enr_x"\nsite_id = "s1"\n')
    paths = Paths(boot_file=boot / "edgeproof-provision.toml", state_dir=tmp_path / "state",
                  config_dir=tmp_path / "etc")
    doc = run_with_retries(paths, max_attempts=5, sleep=slept.append)  # nothing listens there: enroll fails
    assert doc["status"] == "failed" and slept == [10.0, 20.0, 40.0, 80.0]
    slept.clear()
    run_with_retries(paths, base_s=10.0, max_s=15.0, max_attempts=4, sleep=slept.append)
    assert slept == [10.0, 15.0, 15.0]
    # replay's final delivery
    assert RETRY_DELAYS_S == (0.5, 1.0, 2.0, 4.0, 8.0)
    # alert delivery: "equal jitter", half fixed, half random, never past the cap (docs/receiver.md)
    p = Policy(base_delay=30.0, max_delay=3600.0)
    rnd = random.Random(7)
    for attempts in range(1, 40):
        ceiling = min(3600.0, 30.0 * 2 ** (attempts - 1))
        assert ceiling / 2 <= p.backoff(attempts, rnd) <= ceiling
    # paho's reconnect loop gets whole seconds
    assert paho_reconnect_delays() == {"min_delay": 1, "max_delay": 30} and MQTT_RECONNECT.cap_s == 30.0
