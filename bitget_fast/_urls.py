"""Where a URL points, and whether plain (unencrypted) transport to it is allowed.

API keys, signatures and order flow travel on these connections: a plain ``ws://`` or
``http://`` URL is accepted only for a loopback host (the simulator, a local replay, a
tunnel's local end) unless the caller says ``allow_insecure=True``.
"""

from __future__ import annotations

import ipaddress
import urllib.parse

from bitget_fast.errors import ConfigurationError

_PLAIN = {"ws": "wss", "http": "https"}


def is_loopback(url: str) -> bool:
    """True when ``url``'s host is ``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_secure(url: str, allow_insecure: bool, what: str) -> None:
    """Raise :class:`ConfigurationError` when ``url`` is plain ws/http to a host off loopback.

    ``what`` names the connection in the message ("REST", "public WebSocket", ...).
    """
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme in _PLAIN and not allow_insecure and not is_loopback(url):
        host = urllib.parse.urlsplit(url).hostname or "?"
        raise ConfigurationError(
            f"refusing plain {scheme}:// for the {what} connection to {host}: it is not a "
            f"loopback host, so keys, signatures and orders would cross the network "
            f"unencrypted. Use {_PLAIN[scheme]}://, or pass allow_insecure=True if the link "
            f"is protected some other way")
