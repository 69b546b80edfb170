"""Typed records handed to users (msgspec Structs), and the wire shapes they are decoded from.

Money and sizes are :class:`~decimal.Decimal` (exact, as Bitget sent them); times are
integers in milliseconds (``*_ms``). The bottom layer with ``errors.py``: the compiled
modules and the Python layer above may import it.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

__all__ = ["Trade", "Ticker", "StreamEvent"]


class Trade(msgspec.Struct, frozen=True, gc=False):
    """One public trade: ``side`` is the taker's (``"buy"``/``"sell"``)."""

    symbol: str
    trade_id: str
    price: Decimal
    size: Decimal
    side: str
    ts_ms: int


class Ticker(msgspec.Struct, frozen=True, gc=False):
    """A ``ticker`` push: prices, 24 h figures, mark/index, funding and open interest."""

    symbol: str
    last_price: Decimal
    bid_price: Decimal
    bid_size: Decimal
    ask_price: Decimal
    ask_size: Decimal
    mark_price: Decimal
    index_price: Decimal
    funding_rate: Decimal
    next_funding_time_ms: int
    open_interest: Decimal
    base_volume: Decimal
    quote_volume: Decimal
    ts_ms: int


class StreamEvent(msgspec.Struct, frozen=True, gc=False):
    """Something the market-data stream did or saw that a trader may want to know.

    ``kind``: ``"integrity"`` (a book failed a check and is resubscribed), ``"resync"``
    (a resubscribe was sent), ``"resync_deferred"`` (the hourly subscribe ration is spent:
    ``detail`` says until when), ``"rejected"`` (a message could not be used),
    ``"connected"``, ``"disconnected"``, ``"subscribed"``, ``"error"`` (Bitget sent an
    error event). ``symbol``/``channel`` are empty when not about one stream.
    """

    kind: str
    symbol: str
    channel: str
    detail: str
    ts_ns: int
    connection: int = 0


# -- wire shapes (private): what Bitget sends, decoded with msgspec ----------------------------

class _Arg(msgspec.Struct, gc=False):
    instId: str = ""
    channel: str = ""


class _TradeRow(msgspec.Struct, gc=False):
    tradeId: str
    price: Decimal
    size: Decimal
    side: str
    ts: int


class _TradePush(msgspec.Struct, gc=False):
    arg: _Arg
    data: list[_TradeRow]
    action: str = "snapshot"


class _TickerRow(msgspec.Struct, gc=False):
    lastPr: Decimal
    bidPr: Decimal
    askPr: Decimal
    bidSz: Decimal
    askSz: Decimal
    markPrice: Decimal
    indexPrice: Decimal
    fundingRate: Decimal
    nextFundingTime: int
    ts: int
    instId: str = ""
    holdingAmount: Decimal = Decimal(0)
    baseVolume: Decimal = Decimal(0)
    quoteVolume: Decimal = Decimal(0)


class _TickerPush(msgspec.Struct, gc=False):
    arg: _Arg
    data: list[_TickerRow]


# strict=False: Bitget sends integers as strings ("ts": "1695716760565").
trade_decoder = msgspec.json.Decoder(_TradePush, strict=False)
ticker_decoder = msgspec.json.Decoder(_TickerPush, strict=False)


def trades_from_push(raw: bytes) -> list[Trade]:
    """The trades of a ``trade`` push, oldest first (Bitget lists newest first)."""
    push = trade_decoder.decode(raw)
    symbol = push.arg.instId
    return [Trade(symbol, r.tradeId, r.price, r.size, r.side, r.ts) for r in reversed(push.data)]


def tickers_from_push(raw: bytes) -> list[Ticker]:
    """The tickers of a ``ticker`` push."""
    push = ticker_decoder.decode(raw)
    return [Ticker(r.instId or push.arg.instId, r.lastPr, r.bidPr, r.bidSz, r.askPr, r.askSz,
                   r.markPrice, r.indexPrice, r.fundingRate, r.nextFundingTime,
                   r.holdingAmount, r.baseVolume, r.quoteVolume, r.ts)
            for r in push.data]
