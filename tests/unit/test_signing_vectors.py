"""Signing against every worked vector: protocol reference 2.3 / 6.2, RFC 4231, FIPS/NIST, RFC 4648."""

from __future__ import annotations

import hashlib

import pytest

from bitget_fast import Signer, prehash, signing
from bitget_fast.sim import reference

SECRET = "mysecret-0123456789abcdef"

# (timestamp, method, path, query, body, expected ACCESS-SIGN): protocol reference 2.3 and 6.2.
R3_BODY = (b'{"symbol":"BTCUSDT","productType":"USDT-FUTURES","marginMode":"crossed",'
           b'"marginCoin":"USDT","size":"0.001","price":"60000.5","side":"buy",'
           b'"tradeSide":"open","orderType":"limit","force":"post_only","clientOid":"mm-000001"}')
R4_BODY = (b'{"symbol":"BTCUSDT","productType":"USDT-FUTURES","marginCoin":"USDT",'
           b'"clientOid":"mm-000001"}')
# Protocol reference 2.3 (R1-R4) and 6.2 (W1 seconds, W2 milliseconds):
# (timestamp, method, path, query, body, expected prehash, expected ACCESS-SIGN).
VECTORS = [
    pytest.param(1700000000000, "GET", "/api/v2/mix/order/orders-pending",
                 "productType=USDT-FUTURES&symbol=BTCUSDT", None,
                 b"1700000000000GET/api/v2/mix/order/orders-pending"
                 b"?productType=USDT-FUTURES&symbol=BTCUSDT",
                 "FJXGqLm16TMrK7sDS5mQRgqYXkXAfZWfnz4pbUQHnb4=", id="R1"),
    pytest.param(1700000000123, "GET", "/api/v2/mix/order/detail",
                 "clientOid=myOrder-001&productType=USDT-FUTURES&symbol=ETHUSDT", None,
                 b"1700000000123GET/api/v2/mix/order/detail"
                 b"?clientOid=myOrder-001&productType=USDT-FUTURES&symbol=ETHUSDT",
                 "TMtRyfcd+AfuZVVpUBgR+S3+78ocWZR9IMY17xC8/Ig=", id="R2"),
    pytest.param(1700000000456, "POST", "/api/v2/mix/order/place-order", None, R3_BODY,
                 b"1700000000456POST/api/v2/mix/order/place-order" + R3_BODY,
                 "uX7inZgoKNgg0MZn2YKJJ7Gb1ZHGvQHTpudnDLxkkpA=", id="R3"),
    pytest.param(1700000000789, "POST", "/api/v2/mix/order/cancel-order", None, R4_BODY,
                 b"1700000000789POST/api/v2/mix/order/cancel-order" + R4_BODY,
                 "Cr7K4ZufA5i/IHq+SiMvOLM1ZJj4T2uVwaGiKjUGmH4=", id="R4"),
    pytest.param(1700000000, "GET", "/user/verify", None, None,
                 b"1700000000GET/user/verify",
                 "372i1AlkniuN4UVVi44ATebolLQMP+hcA2qAsUrNSyc=", id="W1"),
    pytest.param(1700000000000, "GET", "/user/verify", None, None,
                 b"1700000000000GET/user/verify",
                 "mnJZHdYlFGnp7MUIE0PNkdCIvMu6xCWNikphX+5Ufhc=", id="W2"),
]


@pytest.mark.parametrize(("ts", "method", "path", "query", "body", "pre", "expected"), VECTORS)
def test_protocol_vectors(sha256_backend, ts, method, path, query, body, pre, expected):
    signer = Signer(SECRET)
    assert prehash(ts, method, path, query, body) == pre
    assert pre.decode() == reference.prehash(ts, method, path, query, body)
    assert signer.sign(pre) == expected
    assert signer.sign(bytearray(pre)) == expected
    assert signer.sign(memoryview(pre)) == expected
    assert signer.sign_request(ts, method, path, query, body) == expected
    if body is not None:
        assert signer.sign_request(ts, method, path, query, body.decode()) == expected
        assert signer.sign_request(ts, method, path, query, memoryview(body)) == expected
    assert reference.sign(SECRET, pre) == expected


def test_empty_query_adds_no_question_mark():
    assert prehash(1, "GET", "/p", "") == b"1GET/p"
    assert prehash(1, "GET", "/p", None) == b"1GET/p"
    signer = Signer(SECRET)
    assert signer.sign_request(1, "GET", "/p", "") == signer.sign(b"1GET/p")


# RFC 4231 HMAC-SHA256 test cases 1-7 (case 5 truncates, so it is checked on the prefix).
RFC4231 = [
    (b"\x0b" * 20, b"Hi There",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe", b"what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (b"\xaa" * 20, b"\xdd" * 50,
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    (bytes(range(1, 26)), b"\xcd" * 50,
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    (b"\x0c" * 20, b"Test With Truncation", "a3b6167473100ee06e0c796c2955552b"),
    (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    (b"\xaa" * 131,
     b"This is a test using a larger than block-size key and a larger than block-size data. "
     b"The key needs to be hashed before being used by the HMAC algorithm.",
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
]


@pytest.mark.parametrize(("key", "msg", "hexmac"), RFC4231, ids=[f"case{i}" for i in range(1, 8)])
def test_rfc4231(sha256_backend, key, msg, hexmac):
    assert Signer(key).digest(msg).hex()[: len(hexmac)] == hexmac


# FIPS 180-4 / NIST examples, plus lengths around the padding boundaries.
@pytest.mark.parametrize(("data", "hexdigest"), [
    (b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    (b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    (b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    (b"a" * 1_000_000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
])
def test_sha256_nist(sha256_backend, data, hexdigest):
    assert signing._sha256(data).hex() == hexdigest


def test_sha256_every_length_to_300(sha256_backend):
    data = bytes((i * 7 + 3) & 0xFF for i in range(300))
    for n in range(301):
        assert signing._sha256(data[:n]) == hashlib.sha256(data[:n]).digest(), n


@pytest.mark.parametrize(("data", "encoded"), [
    (b"", ""), (b"f", "Zg=="), (b"fo", "Zm8="), (b"foo", "Zm9v"),
    (b"foob", "Zm9vYg=="), (b"fooba", "Zm9vYmE="), (b"foobar", "Zm9vYmFy"),
])
def test_base64_rfc4648(data, encoded):
    assert signing._b64encode(data) == encoded


def test_base64_all_byte_values():
    import base64

    for n in range(0, 70):
        data = bytes((i * 37 + n) & 0xFF for i in range(n))
        assert signing._b64encode(data) == base64.b64encode(data).decode()


def test_backend_selection():
    before = signing.sha256_backend()
    try:
        assert signing._use_backend("portable") == "portable"
        expected = "sha-ni" if signing._shani_available() else "portable"
        assert signing._use_backend("auto") == expected
        assert signing._use_backend("sha-ni") == expected
        with pytest.raises(ValueError, match="unknown SHA-256 backend"):
            signing._use_backend("openssl")
    finally:
        signing._use_backend(before)
    assert signing.sha256_backend() in signing.SHA256_BACKENDS


def test_backend_env_var_forces_portable():
    import os
    import subprocess
    import sys

    code = "import bitget_fast; print(bitget_fast.sha256_backend())"
    # Inherit the environment (a sanitizer run needs its LD_PRELOAD in the child).
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "BITGET_FAST_SHA256": "portable"}, cwd="/")
    assert out.stdout.strip() == "portable"
    bad = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "BITGET_FAST_SHA256": "fastest"}, cwd="/")
    assert bad.returncode != 0
    assert "unknown SHA-256 backend 'fastest'" in bad.stderr


def test_sign_rejects_str_and_non_buffers():
    signer = Signer(SECRET)
    with pytest.raises(TypeError, match="bytes"):
        signer.sign("1GET/p")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        signer.sign(12345)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="method must be ASCII"):
        signer.sign_request(1, "GÉT", "/p")
    with pytest.raises(TypeError, match="query must be str"):
        signer.sign_request(1, "GET", "/p", b"a=b")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="secret must be str or bytes"):
        Signer(12345)  # type: ignore[arg-type]


def test_long_prehash_takes_the_streaming_path(sha256_backend):
    # Above the 2048-byte stack buffer sign_request streams the parts: same answer.
    body = b'{"orderList":[' + b",".join(b'{"size":"%d"}' % i for i in range(400)) + b"]}"
    assert len(body) > 4096
    signer = Signer(SECRET)
    pre = prehash(1700000000456, "POST", "/api/v2/mix/order/batch-place-order", None, body)
    expected = reference.sign(SECRET, pre)
    assert signer.sign(pre) == expected
    assert signer.sign_request(1700000000456, "POST", "/api/v2/mix/order/batch-place-order",
                               None, body) == expected


def test_negative_and_extreme_timestamps():
    signer = Signer(SECRET)
    # bf_fmt_i64 switches strategy at 10^8 and 10^16: test both sides of each.
    edges = [0, 1, 9, 10, 99, 100, 10**8 - 1, 10**8, 10**8 + 1, 10**16 - 1, 10**16, 10**16 + 7,
             1700000000, 1700000000456, 10**18, 2**63 - 1, -(2**63), -(2**63) + 1]
    for ts in edges + [-t for t in edges if t > 0]:
        assert prehash(ts, "GET", "/p") == f"{ts}GET/p".encode()
        assert signer.sign_request(ts, "GET", "/p") == reference.sign(SECRET, f"{ts}GET/p".encode())
    with pytest.raises(OverflowError):
        signer.sign_request(2**63, "GET", "/p")


def test_none_and_non_str_parts_raise_type_error():
    signer = Signer(SECRET)
    with pytest.raises(TypeError, match="method must be str, not None"):
        signer.sign_request(1, None, "/p")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="path must be str, not None"):
        signer.sign_request(1, "GET", None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        signer.sign_request(1, b"GET", "/p")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        prehash(1, None, "/p")  # type: ignore[arg-type]

    class S(str):
        pass

    with pytest.raises(TypeError, match="expected str, got S"):
        signer.sign_request(1, S("GET"), "/p")


def test_prehash_has_the_same_type_rules_as_sign_request():
    with pytest.raises(TypeError, match="query must be str"):
        prehash(1, "GET", "/p", b"a=b")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        prehash(1, "GET", "/p", None, 5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="query must be ASCII"):
        prehash(1, "GET", "/p", "a=é")
    assert prehash(1, "POST", "/p", None, bytearray(b"{}")) == b"1POST/p{}"
    assert prehash(1, "POST", "/p", None, memoryview(b"{}")) == b"1POST/p{}"
    assert prehash(1, "POST", "/p", None, "{}") == b"1POST/p{}"
