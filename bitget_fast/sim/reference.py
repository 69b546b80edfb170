"""Plain-Python reference implementations: the oracle for tests and the baseline for benchmarks.

Standard library (and orjson) only. The compiled core is checked against these,
and these are checked against Bitget's published vectors and real recordings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

__all__ = ["prehash", "sign", "sign_request"]


def prehash(timestamp: int | str, method: str, path: str, query: str | None = None,
            body: bytes | str | None = None) -> str:
    """timestamp + METHOD + path + ('?' + query if query) + body, as Bitget signs it."""
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    text = f"{timestamp}{method.upper()}{path}"
    if query:
        text += "?" + query
    if body:
        text += body
    return text


def sign(secret: str | bytes, message: bytes) -> str:
    """base64(HMAC-SHA256(secret, message)) with the standard library."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode("ascii")


def sign_request(secret: str, timestamp: int | str, method: str, path: str,
                 query: str | None = None, body: bytes | str | None = None) -> str:
    """What a plain-Python client does per request: build the prehash str, encode, sign."""
    return sign(secret, prehash(timestamp, method, path, query, body).encode("utf-8"))
