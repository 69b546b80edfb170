"""Typed records handed to users (msgspec Structs), and the wire shapes they are decoded from.

Money and sizes are :class:`~decimal.Decimal` (exact, as Bitget sent them); times are
integers in milliseconds (``*_ms``). The bottom layer with ``errors.py``: the compiled
modules and the Python layer above may import it.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

__all__ = ["Trade", "Ticker", "Candle", "StreamEvent", "Fill", "Position", "Balance",
           "OrderUpdate", "PositionUpdate", "BalanceUpdate"]


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


class Candle(msgspec.Struct, frozen=True, gc=False):
    """One candle: start (ms, UTC epoch), prices, base/quote volumes; ``closed`` once final.

    A candle with ``closed=False`` is the one in progress: a later one with the same
    ``start_ms`` replaces it.
    """

    start_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    base_volume: Decimal
    quote_volume: Decimal
    closed: bool


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


class Fill(msgspec.Struct, frozen=True, gc=False):
    """One execution of one of our orders; ``side`` is the execution direction.

    ``fee`` is what was paid (positive; negative for a rebate) in ``fee_coin``;
    ``realized_pnl`` is Bitget's profit of a closing fill (0 when opening).
    """

    trade_id: str
    client_oid: str
    order_id: str
    symbol: str
    side: str
    price: Decimal
    size: Decimal
    fee: Decimal
    fee_coin: str
    maker: bool
    realized_pnl: Decimal
    trade_side: str
    ts_ms: int


class Position(msgspec.Struct, frozen=True, gc=False):
    """One position, keyed by ``(symbol, hold_side)``; ``size`` >= 0 in base coin.

    ``hold_side`` is ``"long"`` or ``"short"`` (one-way mode: the net direction).
    ``liquidation_price`` is None when Bitget reports none (<= 0).
    """

    symbol: str
    hold_side: str
    size: Decimal
    available: Decimal
    avg_entry_price: Decimal
    unrealized_pnl: Decimal
    realized_pnl: Decimal
    liquidation_price: Decimal | None
    leverage: Decimal
    margin_mode: str
    margin: Decimal
    mark_price: Decimal | None
    pos_mode: str
    updated_ms: int

    @property
    def signed_size(self) -> Decimal:
        """``size`` for a long, ``-size`` for a short."""
        return self.size if self.hold_side == "long" else -self.size

    def unrealized_pnl_at(self, mark_price: Decimal) -> Decimal:
        """Unrealized PnL (quote coin) if the mark were ``mark_price``."""
        diff = Decimal(mark_price) - self.avg_entry_price
        return diff * self.size if self.hold_side == "long" else -diff * self.size


class Balance(msgspec.Struct, frozen=True, gc=False):
    """The futures account in one margin coin: ``equity`` includes unrealized PnL."""

    coin: str
    equity: Decimal
    available: Decimal
    locked: Decimal
    unrealized_pnl: Decimal
    max_transfer_out: Decimal
    updated_ms: int


class OrderUpdate(msgspec.Struct, frozen=True, gc=False):
    """A change of one tracked order: its state after the change, and what caused it.

    ``source``: ``"rest"`` (a reply of ours), ``"ws"`` (the private stream),
    ``"reconcile"`` (a REST query after a reconnect or a lost reply), ``"local"``
    (a decision of the client, e.g. a rejection before sending).
    """

    client_oid: str
    order_id: str
    symbol: str
    status: str
    filled_size: Decimal
    avg_price: Decimal | None
    fee: Decimal
    cancel_reason: str
    source: str
    ts_ms: int


class PositionUpdate(msgspec.Struct, frozen=True, gc=False):
    """A position changed; ``position`` is None when it was closed (size went to 0)."""

    symbol: str
    hold_side: str
    position: Position | None
    source: str


class BalanceUpdate(msgspec.Struct, frozen=True, gc=False):
    """A balance changed (``source`` as in :class:`OrderUpdate`)."""

    coin: str
    balance: Balance
    source: str


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
