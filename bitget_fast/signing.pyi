"""Bitget request signing: base64(HMAC-SHA256(secret, prehash))."""

from typing import Final

SHA256_BACKENDS: Final[tuple[str, str]]
"""The SHA-256 kernels :func:`sha256_backend` can name: portable C, or x86 SHA-NI."""

def sha256_backend() -> str:
    """Name of the SHA-256 kernel in use: ``"sha-ni"`` or ``"portable"``."""

def prehash(
    timestamp: int,
    method: str,
    path: str,
    query: str | None = None,
    body: bytes | bytearray | memoryview | str | None = None,
) -> bytes:
    """Bitget's prehash bytes: timestamp + METHOD + path + ('?' + query if query) + body."""

class Signer:
    """HMAC-SHA256 signer for one API secret, with precomputed key states; never pickled."""

    def __init__(self, secret: str | bytes | bytearray | memoryview) -> None: ...
    def sign(self, prehash: bytes | bytearray | memoryview) -> str:
        """Base64 HMAC-SHA256 of ``prehash`` (44 characters)."""
    def digest(self, prehash: bytes | bytearray | memoryview) -> bytes:
        """Raw 32-byte HMAC-SHA256 of ``prehash``."""
    def sign_request(
        self,
        timestamp: int,
        method: str,
        path: str,
        query: str | None = None,
        body: bytes | bytearray | memoryview | str | None = None,
    ) -> str:
        """Signature of the prehash built from its parts, without building it."""
