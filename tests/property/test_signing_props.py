"""The compiled signer equals Python's hmac + base64 on random keys and messages, on both kernels."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bitget_fast import Signer, prehash, signing
from bitget_fast.sim import reference


def _expected(key: bytes, msg: bytes) -> str:
    return base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()


# Keys: empty, short, exactly one block, around it, longer than a block, and non-ASCII text.
keys = st.one_of(
    st.just(b""),
    st.binary(min_size=1, max_size=16),
    st.binary(min_size=63, max_size=65),
    st.binary(min_size=66, max_size=300),
    st.text(min_size=1, max_size=80).map(lambda s: s.encode("utf-8")),
)
# Message lengths crossing the 55/56/64-byte padding boundaries (modulo 64), up to several KB.
boundary_lengths = st.sampled_from([0, 1, 54, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129]).flatmap(
    lambda base: st.integers(0, 60).map(lambda blocks: base + 64 * blocks))
messages = st.one_of(
    boundary_lengths.flatmap(lambda n: st.binary(min_size=n, max_size=n)),
    st.binary(max_size=8192),
)
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                            HealthCheck.function_scoped_fixture])


@SETTINGS
@given(key=keys, msg=messages)
def test_sign_equals_hmac(sha256_backend, key, msg):
    signer = Signer(key)
    assert signer.sign(msg) == _expected(key, msg)
    assert signer.digest(msg) == hmac.new(key, msg, hashlib.sha256).digest()
    assert signing._sha256(msg) == hashlib.sha256(msg).digest()


@SETTINGS
@given(secret=st.text(min_size=1, max_size=80),
       ts=st.integers(-(2**63), 2**63 - 1),
       method=st.sampled_from(["GET", "POST"]),
       path=st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=80),
       query=st.none() | st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=200),
       body=st.none() | st.text(max_size=3000))
def test_sign_request_equals_reference(sha256_backend, secret, ts, method, path, query, body):
    signer = Signer(secret)
    expected = reference.sign_request(secret, ts, method, path, query, body)
    assert signer.sign_request(ts, method, path, query, body) == expected
    assert signer.sign(prehash(ts, method, path, query, body)) == expected


def test_100k_random_signatures_equal_python(sha256_backend):
    rng = random.Random(20261124)
    signers = []
    for _ in range(64):
        key = rng.randbytes(rng.choice([0, 1, 20, 32, 63, 64, 65, 100, 200]))
        signers.append((key, Signer(key)))
    for i in range(100_000):
        key, signer = signers[i % len(signers)]
        n = rng.choice([0, 55, 56, 64, 88, 267]) if i % 3 else rng.randrange(0, 1200)
        msg = rng.randbytes(n)
        assert signer.sign(msg) == _expected(key, msg), (len(key), n)


def test_kernels_agree_on_raw_blocks():
    if not signing._shani_available():
        pytest.skip("this CPU has no SHA extensions")
    rng = random.Random(7)
    before = signing.sha256_backend()
    try:
        for _ in range(2000):
            msg = rng.randbytes(rng.randrange(0, 700))
            signing._use_backend("portable")
            a = signing._sha256(msg)
            signing._use_backend("sha-ni")
            assert signing._sha256(msg) == a
    finally:
        signing._use_backend(before)
