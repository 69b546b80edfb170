"""Exceptions of bitget_fast, and the one table that maps Bitget's codes to them.

The client and the simulator both use :data:`CODE_TABLE`; the client branches
on the response body's ``code``, never on the HTTP status (except 429 and 5xx,
which may come without a Bitget body).
"""

from __future__ import annotations

__all__ = [
    "BitgetError",
    "ConfigurationError",
    "ValidationError",
    "ProtocolError",
    "BookIntegrityError",
    "ChecksumMismatch",
    "SequenceGap",
    "CrossedBook",
    "TransportError",
    "ExchangeError",
    "AuthenticationError",
    "ClockSkewError",
    "RateLimitError",
    "ParameterError",
    "InsufficientFundsError",
    "OrderNotFoundError",
    "PositionModeError",
    "NoPositionError",
    "DuplicateClientOidError",
    "OutcomeUnknownError",
    "ExchangeUnavailableError",
    "CODE_TABLE",
    "error_class_for",
    "exchange_error",
]


class BitgetError(Exception):
    """Root of every exception bitget_fast raises on purpose."""


class ConfigurationError(BitgetError, ValueError):
    """Bad or missing configuration (credentials, URLs, options)."""


class ValidationError(BitgetError, ValueError):
    """A request broke a trading rule (off tick, below minimum); caught before sending."""


class ProtocolError(BitgetError):
    """Malformed input from the exchange: says which channel, byte offset and excerpt."""

    def __init__(self, message: str, *, channel: str | None = None,
                 offset: int | None = None, excerpt: bytes | None = None,
                 transient: bool = False) -> None:
        super().__init__(message)
        self.channel = channel
        self.offset = offset
        self.excerpt = excerpt
        #: a REST reply that could not be read at all (not Bitget's envelope): a read retries it
        self.transient = transient


class BookIntegrityError(ProtocolError):
    """The order book cannot be trusted any more (checksum or sequence)."""


class ChecksumMismatch(BookIntegrityError):
    """Bitget's CRC32 of the top 25 levels disagrees with the local book."""


class SequenceGap(BookIntegrityError):
    """An update's seq/pseq does not follow the book's sequence."""


class CrossedBook(BookIntegrityError):
    """After a message the best bid is at or above the best ask: the book cannot be right."""


class TransportError(BitgetError, ConnectionError):
    """The connection failed, was refused or was dropped."""


class ExchangeError(BitgetError):
    """Bitget answered with an error. Carries ``code``, ``msg``, ``http_status`` and ``path``.

    Never carries request headers (they hold the key and the signature).
    """

    def __init__(self, code: str, msg: str, *, http_status: int | None = None,
                 path: str | None = None) -> None:
        self.code = code
        self.msg = msg
        self.http_status = http_status
        self.path = path
        where = f" on {path}" if path else ""
        status = f" (HTTP {http_status})" if http_status is not None else ""
        super().__init__(f"Bitget error {code}{where}{status}: {msg}")

    def __reduce__(self):  # keep keyword-only fields through pickling
        return (_rebuild_exchange_error,
                (type(self), self.code, self.msg, self.http_status, self.path))


def _rebuild_exchange_error(cls, code, msg, http_status, path):
    return cls(code, msg, http_status=http_status, path=path)


class AuthenticationError(ExchangeError):
    """Key, signature, passphrase, permission or IP whitelist rejected."""


class ClockSkewError(AuthenticationError):
    """The request timestamp was rejected even after a clock resync and one retry."""


class RateLimitError(ExchangeError):
    """HTTP 429 / code 429: too many requests; back off."""


class ParameterError(ExchangeError):
    """Bitget rejected a parameter (precision, tick, minimum, missing field)."""


class InsufficientFundsError(ExchangeError):
    """Not enough balance or margin for the order."""


class OrderNotFoundError(ExchangeError):
    """The order does not exist (or is no longer visible)."""


class PositionModeError(ExchangeError):
    """The request does not fit the account's position mode (one-way vs hedge)."""


class NoPositionError(ExchangeError):
    """No (or not enough) position to close."""


class DuplicateClientOidError(ExchangeError):
    """The clientOid was used before: query it, never resend it as new."""


class OutcomeUnknownError(ExchangeError):
    """An order-changing request may or may not have taken effect: reconcile by clientOid."""


class ExchangeUnavailableError(ExchangeError):
    """A read failed on a transient exchange error (5xx, timeout, system busy)."""


# Bitget code -> exception class (DECISIONS.md section 5). Codes not listed give
# a plain ExchangeError. The transient codes map to OutcomeUnknownError for
# order-changing requests and ExchangeUnavailableError for reads (see
# error_class_for); clock codes map to ClockSkewError and are retried once by
# the REST layer before they surface.
_AUTH = ("40001", "40002", "40003", "40011", "40006", "40009", "40012", "40014",
         "40018", "40038")
_CLOCK = ("40005", "40008")
_PARAM = ("40017", "40019", "40020", "40034", "40808", "41103", "45115", "43028",
          "43006", "45110", "45111", "45112", "45113", "40923", "40924", "40925",
          "22003")
_FUNDS = ("43012", "40754", "40798", "45002", "40762")
_NOT_FOUND = ("40109", "43001", "45057", "40768", "31007", "22001")
_POS_MODE = ("40774", "40920")
_NO_POS = ("45003", "45006", "40757", "22002", "45005")
_DUP = ("45034", "43118")
TRANSIENT_CODES = frozenset(("40015", "40725", "45001", "40200"))

CODE_TABLE: dict[str, type[ExchangeError]] = {}
"""Bitget error code -> the :class:`ExchangeError` subclass raised for it."""
for _codes, _cls in ((_AUTH, AuthenticationError), (_CLOCK, ClockSkewError),
                     (_PARAM, ParameterError), (_FUNDS, InsufficientFundsError),
                     (_NOT_FOUND, OrderNotFoundError), (_POS_MODE, PositionModeError),
                     (_NO_POS, NoPositionError), (_DUP, DuplicateClientOidError),
                     (("429",), RateLimitError)):
    for _code in _codes:
        CODE_TABLE[_code] = _cls
del _codes, _cls, _code


def error_class_for(code: str, http_status: int | None = None, *,
                    changes_orders: bool = False) -> type[ExchangeError]:
    """The exception class for Bitget ``code`` (and HTTP status when the body has none)."""
    if http_status == 429 or code == "429":
        return RateLimitError
    if code in TRANSIENT_CODES or (http_status is not None and http_status >= 500
                                   and code not in CODE_TABLE):
        return OutcomeUnknownError if changes_orders else ExchangeUnavailableError
    return CODE_TABLE.get(code, ExchangeError)


def exchange_error(code: str, msg: str, *, http_status: int | None = None,
                   path: str | None = None, changes_orders: bool = False) -> ExchangeError:
    """Build the right :class:`ExchangeError` subclass for a Bitget error reply."""
    cls = error_class_for(code, http_status, changes_orders=changes_orders)
    return cls(code, msg, http_status=http_status, path=path)
