"""API credentials and the signed REST headers / WebSocket login built from them.

The secret is turned into a :class:`~bitget_fast.signing.Signer` at once and is
not kept as a string; the passphrase is kept (it is sent with every request) but
never shown: not in ``repr``/``str``, not in exceptions, not in pickles.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from urllib.parse import quote

import orjson

from bitget_fast.errors import ConfigurationError
from bitget_fast.signing import Signer

__all__ = ["Credentials", "encode_query", "ENV_API_KEY", "ENV_SECRET_KEY", "ENV_PASSPHRASE",
           "WS_LOGIN_PATH", "WS_LOGIN_TIMESTAMP_UNIT"]

ENV_API_KEY = "BITGET_API_KEY"
"""Environment variable :meth:`Credentials.from_env` reads the API key from."""
ENV_SECRET_KEY = "BITGET_SECRET_KEY"
"""Environment variable holding the secret."""
ENV_PASSPHRASE = "BITGET_PASSPHRASE"
"""Environment variable holding the passphrase."""

# The WebSocket login signs timestamp + "GET" + "/user/verify" (protocol reference 6.2).
WS_LOGIN_PATH = "/user/verify"
"""The request path signed for the WebSocket login."""
# UNCERTAIN in the reference (prose says ms, every working client sends seconds):
# seconds, as ccxt, hummingbot, Bitget's SDK and the TS SDK do. Issue 2 note.
WS_LOGIN_TIMESTAMP_UNIT = "s"
"""Unit of the WebSocket login timestamp (``s``; UNCERTAIN in the reference)."""

# Characters left as they are in query strings; everything else is percent-encoded
# (RFC 3986 unreserved set). UNCERTAIN which form Bitget verifies when raw and
# encoded differ; we sign exactly the string we send, so the two never differ.
_QUERY_SAFE = "-_.~"


def encode_query(params: Mapping[str, object] | None) -> str:
    """The query string Bitget expects: keys sorted ascending, ``None`` values left out,
    values percent-encoded outside ``A-Z a-z 0-9 - _ . ~``. Sign and send this exact string.
    """
    if not params:
        return ""
    items = []
    for key in sorted(params):
        value = params[key]
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        items.append(f"{quote(str(key), safe=_QUERY_SAFE)}={quote(str(value), safe=_QUERY_SAFE)}")
    return "&".join(items)


def _header_value(name: str, value: object) -> str:
    # Goes into an HTTP header or a JSON login message: printable ASCII only.
    # The message names the field, never the value (it may be secret).
    if not isinstance(value, str):
        raise ConfigurationError(f"{name} must be a str, not {type(value).__name__}")
    if not value:
        raise ConfigurationError(f"{name} is empty")
    if not value.isascii() or not value.isprintable():
        raise ConfigurationError(f"{name} must be printable ASCII")
    return value


def _mask(api_key: str) -> str:
    return f"{api_key[:4]}…{api_key[-4:]}" if len(api_key) > 12 else "****"


class Credentials:
    """Bitget API key, secret and passphrase; builds signed REST headers and the WS login."""

    __slots__ = ("_api_key", "_passphrase", "_signer")

    def __init__(self, api_key: str, secret: str | bytes, passphrase: str) -> None:
        self._api_key = _header_value("api_key", api_key)
        self._passphrase = _header_value("passphrase", passphrase)
        if isinstance(secret, str):
            if not secret:
                raise ConfigurationError("secret is empty")
        elif isinstance(secret, bytes):
            if not secret:
                raise ConfigurationError("secret is empty")
        else:
            raise ConfigurationError(f"secret must be a str or bytes, not {type(secret).__name__}")
        self._signer = Signer(secret)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Credentials:
        """Load from ``BITGET_API_KEY``, ``BITGET_SECRET_KEY`` and ``BITGET_PASSPHRASE``."""
        env = os.environ if environ is None else environ
        names = (ENV_API_KEY, ENV_SECRET_KEY, ENV_PASSPHRASE)
        missing = [name for name in names if not env.get(name)]
        if missing:
            raise ConfigurationError(
                "Bitget credentials are incomplete: environment variable"
                f"{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                f"{'are' if len(missing) > 1 else 'is'} not set or empty "
                f"(all of {', '.join(names)} are needed)")
        return cls(env[ENV_API_KEY], env[ENV_SECRET_KEY], env[ENV_PASSPHRASE])

    @property
    def api_key(self) -> str:
        """The API key (sent in clear as ACCESS-KEY; shown masked in repr)."""
        return self._api_key

    @property
    def signer(self) -> Signer:
        """The :class:`Signer` built from the secret."""
        return self._signer

    def __repr__(self) -> str:
        return f"Credentials(api_key='{_mask(self._api_key)}', secret=<hidden>, passphrase=<hidden>)"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("Credentials hold a secret and cannot be pickled or copied")

    def __copy__(self):
        raise TypeError("Credentials hold a secret and cannot be pickled or copied")

    def __deepcopy__(self, memo):
        raise TypeError("Credentials hold a secret and cannot be pickled or copied")

    def __getstate__(self):
        raise TypeError("Credentials hold a secret and cannot be pickled or copied")

    def rest_headers(self, method: str, path: str, query: str | None = None,
                     body: bytes | str | None = None, *, timestamp_ms: int | None = None,
                     demo: bool = False, locale: str = "en-US") -> dict[str, str]:
        """Complete signed header set for one REST request.

        ``query`` is the exact string after ``?`` (see :func:`encode_query`), ``body``
        the exact bytes sent. ``demo`` adds ``paptrading: 1`` (Bitget Demo Trading).
        """
        ts = time.time_ns() // 1_000_000 if timestamp_ms is None else int(timestamp_ms)
        method = method.upper()
        headers = {
            "ACCESS-KEY": self._api_key,
            "ACCESS-SIGN": self._signer.sign_request(ts, method, path, query, body),
            "ACCESS-TIMESTAMP": str(ts),
            "ACCESS-PASSPHRASE": self._passphrase,
            "Content-Type": "application/json",
            "locale": locale,
        }
        if demo:
            headers["paptrading"] = "1"
        return headers

    def header_block(self, *, demo: bool = False, locale: str = "en-US") -> bytes:
        """The signed-request header lines that never change (key, passphrase, content type).

        For the REST client's pre-built request prefix; holds the passphrase, so keep it
        private (it is never logged or shown by bitget_fast).
        """
        lines = [f"ACCESS-KEY: {self._api_key}", f"ACCESS-PASSPHRASE: {self._passphrase}",
                 "Content-Type: application/json", f"locale: {_header_value('locale', locale)}"]
        if demo:
            lines.append("paptrading: 1")
        return ("\r\n".join(lines) + "\r\n").encode("ascii")

    def ws_login_args(self, timestamp: int | None = None) -> dict[str, str]:
        """The ``args[0]`` object of the private WebSocket login (timestamp in seconds)."""
        ts = int(time.time()) if timestamp is None else int(timestamp)
        return {
            "apiKey": self._api_key,
            "passphrase": self._passphrase,
            "timestamp": str(ts),
            "sign": self._signer.sign_request(ts, "GET", WS_LOGIN_PATH),
        }

    def ws_login_message(self, timestamp: int | None = None) -> bytes:
        """The complete login message to send on the private WebSocket."""
        return orjson.dumps({"op": "login", "args": [self.ws_login_args(timestamp)]})
