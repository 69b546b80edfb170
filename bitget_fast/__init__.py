"""bitget_fast: a low-latency Bitget USDT-M perpetual futures connector.

The compiled core is the product: there is no pure-Python fallback.
"""

from __future__ import annotations

__version__ = "0.1.0"

try:
    from bitget_fast.signing import Signer, prehash, sha256_backend
    from bitget_fast.book import OrderBook, crc32_backend
except ImportError as _exc:  # pragma: no cover - exercised in a subprocess by the tests
    import os as _os

    _here = _os.path.dirname(_os.path.abspath(__file__))
    _in_checkout = _os.path.exists(_os.path.join(_here, "signing.pyx"))
    _hint = (
        f" You are importing bitget_fast from a source checkout ({_here}), where the "
        "extensions are not built: install it (`pip install .`) and run from another "
        "directory, or use pytest's --import-mode=importlib."
        if _in_checkout else ""
    )
    raise ImportError(
        "bitget_fast's compiled extensions could not be loaded "
        f"({_exc}). bitget_fast has no pure-Python fallback: install a prebuilt wheel "
        "(`pip install bitget-fast`) or build from source with `pip install .` "
        "(needs a C compiler and the Python headers)." + _hint
    ) from _exc

from bitget_fast.auth import Credentials, encode_query
from bitget_fast.market import MarketData
from bitget_fast.models import (
    Balance,
    BalanceUpdate,
    Candle,
    Fill,
    OrderUpdate,
    Position,
    PositionUpdate,
    StreamEvent,
    Ticker,
    Trade,
)
from bitget_fast.orders import Order, OrderStatus
from bitget_fast.rules import Contract, TradingRules
from bitget_fast.rest import RestClient
from bitget_fast.connector import BitgetPerpetual
from bitget_fast.candles import CandleError, CandleFeed
from bitget_fast.wire import BookHandler
from bitget_fast.errors import (
    AuthenticationError,
    BitgetError,
    BookIntegrityError,
    ChecksumMismatch,
    ClockSkewError,
    CrossedBook,
    ConfigurationError,
    DuplicateClientOidError,
    ExchangeError,
    ExchangeUnavailableError,
    InsufficientFundsError,
    NoPositionError,
    OrderNotFoundError,
    OutcomeUnknownError,
    ParameterError,
    PositionModeError,
    ProtocolError,
    RateLimitError,
    SequenceGap,
    TransportError,
    ValidationError,
)

__all__ = [
    "__version__",
    "Signer",
    "prehash",
    "sha256_backend",
    "OrderBook",
    "crc32_backend",
    "Credentials",
    "encode_query",
    "MarketData",
    "BookHandler",
    "Trade",
    "Ticker",
    "Candle",
    "CandleFeed",
    "CandleError",
    "StreamEvent",
    "BitgetPerpetual",
    "Order",
    "OrderStatus",
    "Fill",
    "Position",
    "Balance",
    "OrderUpdate",
    "PositionUpdate",
    "BalanceUpdate",
    "Contract",
    "TradingRules",
    "RestClient",
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
]
