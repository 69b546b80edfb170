"""``BitgetPerpetual``: the object most users hold -- market data, trading rules, the REST
session, the private stream, and orders, fills, positions and balances that stay right.

Usage::

    async with BitgetPerpetual(symbols=["BTCUSDT"]) as bp:      # credentials from the env
        book = await bp.book("BTCUSDT")
        order = await bp.place_order("BTCUSDT", "buy", "0.01", "60000.0", order_type="post_only")
        await bp.cancel_order("BTCUSDT", order.client_oid)

``submit_order`` is the synchronous twin of ``place_order`` for the hot path (a book
callback): it checks the order against the contract's rules, writes the signed request
at once and returns the tracked :class:`Order` (``pending_new``); the reply, the stream
and, if needed, a reconciliation query move it on.

Whatever happens on the wire -- a lost reply, a dropped stream, a 429, a restart of the
exchange -- the state converges to the exchange's: a lost reply leaves the order
``unknown`` until a query by clientOid resolves it; every reconnect of the private
stream is followed by a REST reconciliation (open orders, the detail of every order in
flight, fills since the last one seen, positions, balances).
"""

from __future__ import annotations

import asyncio
import functools
from contextlib import aclosing
import logging
import re
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

import msgspec

from bitget_fast._urls import require_secure
from bitget_fast.account import AccountState
from bitget_fast.auth import Credentials
from bitget_fast.book import OrderBook
from bitget_fast.candles import CLOSE_GRACE_S, CandleFeed
from bitget_fast.errors import (
    BitgetError,
    ConfigurationError,
    ExchangeError,
    OrderNotFoundError,
    OutcomeUnknownError,
    ProtocolError,
    TransportError,
    ValidationError,
    exchange_error,
)
from bitget_fast.limits import V2_MIX
from bitget_fast.market import DEMO_PUBLIC_WS_URL, PUBLIC_WS_URL, MarketData, _Feed, check_reachable
from bitget_fast.models import (
    BalanceUpdate,
    Candle,
    Fill,
    OrderUpdate,
    PositionUpdate,
    StreamEvent,
)
from bitget_fast.orders import EXT_PREFIX, Order, OrderStatus, OrderTracker, new_client_oid
from bitget_fast.private import DEMO_PRIVATE_WS_URL, PRIVATE_WS_URL, PrivateStream
from bitget_fast.rest import REST_URL, RestClient
from bitget_fast.rules import SYMBOL_STATUSES, Contract, TradingRules

__all__ = ["BitgetPerpetual", "ORDER_TYPES", "PRODUCT_TYPE", "MARGIN_COIN"]

log = logging.getLogger("bitget_fast.connector")

PRODUCT_TYPE = "USDT-FUTURES"
"""The productType of every request: USDT-M futures."""
MARGIN_COIN = "USDT"
"""The margin coin of every order."""
# order_type -> (Bitget orderType, force); DECISIONS.md section 6
ORDER_TYPES: dict[str, tuple[str, str | None]] = {
    "limit": ("limit", "gtc"), "market": ("market", None), "post_only": ("limit", "post_only"),
    "limit_maker": ("limit", "post_only"), "ioc": ("limit", "ioc"), "fok": ("limit", "fok"),
}
"""``order_type`` -> (Bitget ``orderType``, ``force``): limit, market, post_only (= limit_maker), ioc, fok."""
_PLACE = V2_MIX + "order/place-order"
_BATCH_PLACE = V2_MIX + "order/batch-place-order"
_CANCEL = V2_MIX + "order/cancel-order"
_BATCH_CANCEL = V2_MIX + "order/batch-cancel-orders"
_CANCEL_ALL = V2_MIX + "order/cancel-all-orders"
_MODIFY = V2_MIX + "order/modify-order"
_CLOSE_POSITIONS = V2_MIX + "order/close-positions"
_DETAIL = V2_MIX + "order/detail"
_PENDING = V2_MIX + "order/orders-pending"
_FILLS = V2_MIX + "order/fills"
_POSITIONS = V2_MIX + "position/all-position"
_ACCOUNTS = V2_MIX + "account/accounts"
_ACCOUNT = V2_MIX + "account/account"
_CONTRACTS = V2_MIX + "market/contracts"
BATCH_MAX = 50
# Bitget's clientOid charset and length (protocol reference 10.3)
_CLIENT_OID_RE = re.compile(r"[A-Za-z0-9_+#-]{1,50}")
# A lost reply is resolved by querying the order: this many tries, doubling from 0.2 s
# (Bitget may take a moment to show a just-placed order).
RESOLVE_ATTEMPTS = 5
RESOLVE_FIRST_S = 0.2
# After a cancel is acknowledged the stream should show the order final; if it does not
# within this time, the order is queried.
CANCEL_CONFIRM_S = 3.0
# How long close_positions waits for the closing orders' pushes before reconciling.
CLOSE_WAIT_S = 1.0
WATCH_SWEEP_S = 0.5     # how often the confirm deadlines are looked at
SIZE_CACHE_MAX = 1024   # checked sizes remembered per connector (cleared when full)
PRICE_CACHE_MAX = 4096  # checked prices, the same way
# Codes with which Bitget says the symbol is not open (protocol reference 3.2): the
# contracts are re-read (such reloads at most this often) so symbolStatus is checked before
# sending.
SYMBOL_CLOSED_CODES = frozenset(("41114", "40308", "40309", "43115", "41113", "22004"))
RULES_RELOAD_MIN_S = 10.0
# Fills are re-read from this far before the newest one seen (clock skew between pushes).
FILL_LOOKBACK_MS = 60_000


def _cacheable(v: Any) -> bool:
    """A size or price input whose checked form may be remembered (hashable and exact)."""
    return type(v) is str or (type(v) is Decimal and v.is_finite())


class _Ack(msgspec.Struct):
    orderId: str | None = None
    clientOid: str | None = None


class _BatchItem(msgspec.Struct):
    orderId: str | None = None
    clientOid: str | None = None
    errorMsg: str | None = None
    errorCode: str | int | None = None


class _BatchReply(msgspec.Struct):
    successList: list[_BatchItem] | None = None
    failureList: list[_BatchItem] | None = None


def _unlisted(path: str) -> OutcomeUnknownError:
    return OutcomeUnknownError("missing", "the batch reply did not list this order; "
                               "reconcile by clientOid", path=path)


def rows_of(data: Any, key: str | None, path: str) -> list[dict[str, Any]]:
    """The rows of a REST reply: ``data[key]`` (or ``data`` itself when ``key`` is None), a
    list of objects; null or absent is no rows. Anything else is a ProtocolError naming the
    endpoint, never a TypeError half-way through a reconciliation."""
    if key is not None:
        if data is None:
            return []
        if not isinstance(data, dict):
            raise ProtocolError(f"{path}: data must be an object, not {type(data).__name__}")
        data = data.get(key)
    if data is None:
        return []
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ProtocolError(f"{path}: {key or 'data'} must be a list of objects, not "
                            f"{str(data)[:80]!r}")
    return data


def apply_private_rows(tracker: OrderTracker, account: AccountState, channel: str,
                       rows: list[Any]) -> None:
    """Apply one private push's rows (``orders``, ``fill``, ``positions``, ``account``) to the
    order tracker and account state; other channels are ignored. BitgetError on a bad row."""
    if channel == "orders":
        for row in rows:
            tracker.apply_row(row, "ws")
    elif channel == "fill":
        for row in rows:
            tracker.apply_fill(row, "ws")
    elif channel == "positions":
        account.apply_positions(rows, "ws")
    elif channel == "account":
        account.apply_balances(rows, "ws")


def _check_side(side: str) -> str:
    s = side.lower() if isinstance(side, str) else ""
    if s not in ("buy", "sell"):
        raise ValidationError(f"side must be 'buy' or 'sell' (the execution direction), not {side!r}")
    return s


class BitgetPerpetual:
    """Bitget USDT-M perpetual futures: market data, orders, fills, positions and balances.

    ``credentials`` default to :meth:`Credentials.from_env`. ``demo=True`` trades in
    Bitget's Demo Trading (``paptrading: 1``, demo WebSocket hosts). ``symbols`` are
    prepared at start (their margin mode and leverage read), so ``submit_order`` can be
    used for them at once. ``order_transport="ws"`` places and cancels over the private
    WebSocket (``op: trade``, for accounts Bitget enabled), and over REST while that stream
    is down; REST otherwise.

    ``paper=True`` trades on paper: the contracts and the books of ``symbols`` come live
    from Bitget's public endpoints (``rest_url``, ``ws_public_url``), and every order goes to a
    local simulator whose engine mirrors those books (:mod:`bitget_fast.paper` says what is
    modelled). No keys are needed: ``credentials`` are not used; the paper account holds
    ``paper_usdt`` and is reachable as :attr:`paper_exchange`.

    Certificates are verified (``ssl_context`` replaces the default one). Plain ``http://``
    or ``ws://`` URLs are refused for hosts that are not loopback unless
    ``allow_insecure=True``: keys and orders never cross a network unencrypted by mistake.

    ``channel_api_code``: a Bitget broker (channel) code, sent as the ``X-CHANNEL-API-CODE``
    header on every signed REST request (not signed itself; absent by default).
    """

    def __init__(self, credentials: Credentials | None = None, *, demo: bool = False,
                 rest_url: str = REST_URL, ws_public_url: str | None = None,
                 ws_private_url: str | None = None, symbols: Iterable[str] = (),
                 order_transport: str = "rest",
                 on_order: Callable[[OrderUpdate], Any] | None = None,
                 on_fill: Callable[[Fill], Any] | None = None,
                 on_position: Callable[[PositionUpdate], Any] | None = None,
                 on_balance: Callable[[BalanceUpdate], Any] | None = None,
                 on_book: Callable[[OrderBook], Any] | None = None,
                 on_event: Callable[[StreamEvent], Any] | None = None,
                 ssl_context: ssl.SSLContext | None = None, rest_connections: int = 2,
                 request_timeout_s: float = 10.0, strict_seq: bool | None = None,
                 enforce_rate_limits: bool = True, max_rate_wait_s: float = 1.0,
                 queue_size: int = 100_000, paper: bool = False, paper_usdt: Any = 10_000,
                 ready_timeout_s: float = 30.0, allow_insecure: bool = False,
                 channel_api_code: str | None = None) -> None:
        symbols = list(symbols)   # read once: a generator would be empty the second time
        self.paper = bool(paper)
        self._paper_keys: tuple[str, str, str] | None = None
        if self.paper:
            if demo:
                raise ConfigurationError("paper=True trades locally against Bitget's live data; "
                                         "demo=True trades in Bitget's Demo Trading: choose one")
            if not symbols:
                raise ConfigurationError("paper=True needs symbols=[...]: the paper exchange "
                                         "trades the symbols whose live books it mirrors")
            from bitget_fast.paper import paper_keys
            self._paper_keys = paper_keys()
            self.credentials = Credentials(*self._paper_keys)
        else:
            self.credentials = credentials if credentials is not None else Credentials.from_env()
        if order_transport not in ("rest", "ws"):
            raise ConfigurationError(f"order_transport must be 'rest' or 'ws', not {order_transport!r}")
        self.paper_usdt = paper_usdt
        #: paper=True: the local simulator, paper account and book mirrors (after start)
        self.paper_exchange: Any = None
        self._ready_timeout_s = ready_timeout_s
        self._rest_opts = dict(demo=demo, connections=rest_connections,
                               timeout_s=request_timeout_s, ssl_context=ssl_context,
                               enforce_rate_limits=enforce_rate_limits,
                               max_rate_wait_s=max_rate_wait_s, allow_insecure=allow_insecure,
                               channel_api_code=channel_api_code)
        self.demo = demo
        self.order_transport = order_transport
        self.ws_public_url = ws_public_url or (DEMO_PUBLIC_WS_URL if demo else PUBLIC_WS_URL)
        self.ws_private_url = ws_private_url or (DEMO_PRIVATE_WS_URL if demo else PRIVATE_WS_URL)
        self._ssl = ssl_context
        self._allow_insecure = bool(allow_insecure)
        require_secure(self.ws_public_url, self._allow_insecure, "public WebSocket")
        require_secure(self.ws_private_url, self._allow_insecure, "private WebSocket")
        self.rest = RestClient(rest_url, self.credentials, **self._rest_opts)
        #: where public market data (candles) is read over REST: Bitget's, in paper mode too;
        #: its own connections, so a long backfill never queues an order (opened on first use)
        self.public_rest = RestClient(rest_url, None, **{**self._rest_opts,
                                                         "channel_api_code": None})
        self._public_started: asyncio.Task[None] | None = None
        self._candle_feeds: set[CandleFeed] = set()
        self._symbols = [s.upper() for s in symbols]
        self._user = {"order": on_order, "fill": on_fill, "position": on_position,
                      "balance": on_balance, "event": on_event}
        self._on_book = on_book
        self._strict_seq = strict_seq
        self._queue_size = queue_size
        self.tracker = OrderTracker(self._order_changed, self._fill_seen)
        self.account = AccountState(self._position_changed, self._balance_changed)
        self.rules: TradingRules | None = None
        self.pos_mode = ""
        self._settings: dict[str, dict[str, Any]] = {}
        self._inflight: dict[str, asyncio.Future[Any]] = {}
        self._resolving: dict[str, asyncio.Task[None]] = {}
        # orders the stream must show final (or in the given statuses) by a deadline
        self._watch: dict[str, tuple[Order, tuple[str, ...], float]] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._sizes: dict[tuple[str, Any, bool], tuple[str, Decimal, int]] = {}
        self._prices: dict[tuple[str, Any], tuple[str, Decimal, int]] = {}
        self._stale_reload = -RULES_RELOAD_MIN_S   # time.monotonic() of the last _rules_stale
        self._markets: dict[str, MarketData] = {}
        self._feeds: dict[str, list[_Feed[Any]]] = {"order": [], "fill": [], "position": [],
                                                     "balance": []}
        self.events: deque[StreamEvent] = deque(maxlen=1000)
        self._private: PrivateStream | None = None
        self._reconcile_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._failure: BaseException | None = None
        self._closing = False
        self._closed: asyncio.Event | None = None
        self._started_ms = 0
        self.counters = {"orders_submitted": 0, "reconciles": 0, "resolved_unknown": 0,
                         "cancel_checks": 0, "ws_order_fallbacks": 0}

    def __repr__(self) -> str:
        mode = "paper=True" if self.paper else f"demo={self.demo}"
        return (f"BitgetPerpetual({self.rest.base_url!r}, {mode}, "
                f"{self.credentials!r}, orders={len(self.tracker)})")

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Connect REST, load the contracts, log in to the private stream and reconcile."""
        self._closed = asyncio.Event()
        self._started_ms = time.time_ns() // 1_000_000
        if self.paper:
            for url in (self.rest.base_url, self.ws_public_url):
                try:
                    await check_reachable(url)
                except TransportError as e:
                    raise TransportError(f"{e} (paper trading reads Bitget's contracts and books "
                                         "live; the simulator needs no network)") from None
        await self.rest.start()
        try:
            if self.paper:
                await self._start_paper()
            await self.reload_rules()
            for s in self._symbols:
                self.rules[s]   # unknown symbol -> ValidationError now, not at the first order
            await self._load_settings(self._symbols or list(self.rules)[:1])
            self._private = PrivateStream(
                self.ws_private_url, self.credentials, on_push=self._on_push,
                on_ready=self.reconcile, on_event=self._stream_event, ssl_context=self._ssl,
                max_rate_wait_s=self.rest.max_rate_wait_s, allow_insecure=self._allow_insecure,
                limiter=self.rest.limiter if self.rest.enforce_rate_limits else None)
            await self._private.start()
        except BaseException:
            await self.close()
            raise

    async def _start_paper(self) -> None:
        from bitget_fast.paper import PaperExchange

        data = await self.rest.request("GET", _CONTRACTS, params={"productType": PRODUCT_TYPE},
                                       signed=False)
        rules = TradingRules.from_response(data)
        rows = {r.get("symbol"): r for r in data if isinstance(r, dict)}
        contracts = [rules[s] for s in self._symbols]   # unknown symbol -> ValidationError
        for c in contracts:
            await self._market(c)
        for c in contracts:
            await self._markets[c.symbol].wait_ready(self._ready_timeout_s)
        assert self._paper_keys is not None
        self.paper_exchange = await PaperExchange.open(
            [rows[c.symbol] for c in contracts],
            {c.symbol: self._markets[c.symbol].book(c.symbol) for c in contracts},
            self._paper_keys, usdt=self.paper_usdt)
        self.public_rest, public = self.rest, self.public_rest   # Bitget's, started already
        self._public_started = asyncio.ensure_future(asyncio.sleep(0))
        await public.close()
        self.rest = RestClient(self.paper_exchange.rest_url, self.credentials, **self._rest_opts)
        await self.rest.start()   # public_rest stays on Bitget's: candles are read there
        self.ws_private_url = self.paper_exchange.ws_private_url

    async def reload_rules(self) -> TradingRules:
        """Re-read the contracts (tick, size step, minimums, ``symbolStatus``) and check orders
        against them from now on. Done at start, and by itself when Bitget refuses an order
        because the symbol is not open."""
        data = await self.rest.request("GET", _CONTRACTS, params={"productType": PRODUCT_TYPE},
                                       signed=False)
        rules = TradingRules.from_response(data)
        self.rules = rules
        self._sizes.clear()   # checked against the rules just replaced
        self._prices.clear()
        return rules

    async def close(self) -> None:
        """Stop streams and the REST session (orders on the exchange are left as they are)."""
        if self._closing:
            return
        self._closing = True
        for t in (*self._tasks, *self._resolving.values()):
            t.cancel()
        await asyncio.gather(*self._tasks, *self._resolving.values(), return_exceptions=True)
        if self._private is not None:
            await self._private.close()
        for md in self._markets.values():
            await md.close()
        for feed in list(self._candle_feeds):
            await feed.close()
        await self.rest.close()
        if self.public_rest is not self.rest:
            await self.public_rest.close()
        if self.paper_exchange is not None:
            await self.paper_exchange.close()
        for feeds in self._feeds.values():
            for f in feeds:
                f._close()
        if self._closed is not None:
            self._closed.set()

    async def __aenter__(self) -> BitgetPerpetual:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
        if exc[0] is None:
            self._raise_failure()

    async def wait(self) -> None:
        """Run until :meth:`close`; re-raises an exception raised by a user callback."""
        if self._closed is None:
            raise RuntimeError("start the connector first")
        await self._closed.wait()
        self._raise_failure()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    # ------------------------------------------------------------------ reading
    @property
    def positions(self) -> Mapping[tuple[str, str], Any]:
        """``(symbol, hold_side)`` -> :class:`Position`; flat positions are absent."""
        return self.account.positions

    @property
    def balances(self) -> Mapping[str, Any]:
        """Margin coin -> :class:`Balance`."""
        return self.account.balances

    @property
    def orders(self) -> OrderTracker:
        """Every tracked order by clientOid (``open_orders()`` for the live ones)."""
        return self.tracker

    def net_position(self, symbol: str) -> Decimal:
        """Signed position size of ``symbol`` (long minus short)."""
        return self.account.net_position(symbol.upper())

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Tracked orders not yet final."""
        return self.tracker.open_orders(symbol.upper() if symbol else None)

    def contract(self, symbol: str) -> Contract:
        """The trading rules of ``symbol`` (tick, size step, minimums)."""
        if self.rules is None:
            raise ConfigurationError("the connector is not started")
        return self.rules[symbol.upper()]

    @property
    def ready(self) -> bool:
        """True while the private stream is logged in, subscribed and reconciled."""
        return self._private is not None and self._private.ready

    def stats(self) -> dict[str, Any]:
        """Counters of every part (REST, private stream, tracker, account, each symbol's
        market data)."""
        return {"connector": dict(self.counters), "rest": self.rest.stats(),
                "private": dict(self._private.counters) if self._private else {},
                "orders": dict(self.tracker.counters), "account": dict(self.account.counters),
                "market": {s: md.stats() for s, md in self._markets.items()},
                "paper": self.paper_exchange.stats() if self.paper_exchange else {}}

    def order_updates(self) -> _Feed[OrderUpdate]:
        """Async iterator of every :class:`OrderUpdate` from now on."""
        return self._feed("order")

    def fills(self) -> _Feed[Fill]:
        """Async iterator of every new :class:`Fill` from now on (deduplicated)."""
        return self._feed("fill")

    def position_updates(self) -> _Feed[PositionUpdate]:
        """Async iterator of every :class:`PositionUpdate` from now on."""
        return self._feed("position")

    def balance_updates(self) -> _Feed[BalanceUpdate]:
        """Async iterator of every :class:`BalanceUpdate` from now on."""
        return self._feed("balance")

    def _feed(self, kind: str) -> _Feed[Any]:
        f: _Feed[Any] = _Feed(self, kind, self._queue_size)
        if self._closing:
            f._close()
        self._feeds[kind].append(f)
        return f

    def _forget_feed(self, feed: _Feed[Any]) -> None:
        for feeds in self._feeds.values():
            if feed in feeds:
                feeds.remove(feed)

    def _event(self, kind: str, symbol: str, channel: str, detail: str, conn: int = 0) -> None:
        self._stream_event(StreamEvent(kind, symbol, channel, detail, time.time_ns(), conn))

    # ------------------------------------------------------------------ market data
    async def book(self, symbol: str, *, timeout_s: float = 30.0) -> OrderBook:
        """The live, checked :class:`OrderBook` of ``symbol``, subscribing if needed."""
        symbol = symbol.upper()
        md = self._markets.get(symbol)
        if md is None:
            if self.paper:
                raise ConfigurationError(f"paper trading: {symbol} is not one of the symbols "
                                         f"the paper exchange mirrors ({self._symbols})")
            md = await self._market(self.contract(symbol))
        await md.wait_ready(timeout_s)
        return md.book(symbol)

    async def candles(self, symbol: str, interval: str, since: Any, until: Any = None, *,
                      include_open: bool = False, kind: str = "market",
                      close_grace_s: float = CLOSE_GRACE_S,
                      confirm_closes: bool = False) -> AsyncIterator[Candle]:
        """Closed :class:`Candle` s of ``symbol`` from ``since`` (ms, aware datetime or ISO
        string): history over REST, then live, with no gap and no duplicate start, across
        reconnects; ``include_open`` adds the one in progress as it changes. Ends at
        ``until`` (None: when the loop breaks, or at :meth:`close`). :mod:`bitget_fast.candles`
        has the rules.
        """
        symbol = symbol.upper()
        if self.rules is not None:
            self.contract(symbol)   # an unknown symbol fails now, not at the first page
        started = self._public_started
        if started is None or (started.done() and not started.cancelled()
                               and started.exception() is not None):   # again after a failure
            self._public_started = asyncio.ensure_future(self.public_rest.start())
        await asyncio.shield(self._public_started)
        feed = CandleFeed(self.public_rest, symbol, interval, kind=kind,
                          ws_url=self.ws_public_url, ssl_context=self._ssl,
                          allow_insecure=self._allow_insecure, close_grace_s=close_grace_s,
                          confirm_closes=confirm_closes, on_event=self._stream_event)
        self._candle_feeds.add(feed)
        try:
            async with aclosing(feed.stream(since, until, include_open=include_open)) as s:
                async for c in s:
                    yield c
        finally:
            self._candle_feeds.discard(feed)

    async def _market(self, c: Contract) -> MarketData:
        """Start ``c``'s market data (its book feeds the paper engine first in paper mode)."""
        on_book = user = self._on_book
        if self.paper:

            def on_book(book: OrderBook) -> None:
                # Until the paper exchange is up (it opens at the live book), the strategy
                # sees nothing: an order it sent then would have no engine to meet.
                paper = self.paper_exchange
                if paper is not None:
                    paper.on_book(book)
                    if user is not None:
                        user(book)
        md = MarketData([c.symbol], url=self.ws_public_url, ssl_context=self._ssl,
                        on_book=on_book, on_event=self._stream_event,
                        strict_seq=self._strict_seq, price_places={c.symbol: c.price_place},
                        allow_insecure=self._allow_insecure)
        self._markets[c.symbol] = md
        await md.start()
        return md

    # ------------------------------------------------------------------ settings
    async def _load_settings(self, symbols: Iterable[str]) -> None:
        for s in symbols:
            data = await self.rest.request("GET", _ACCOUNT, params={
                "symbol": s, "productType": PRODUCT_TYPE, "marginCoin": MARGIN_COIN})
            self._settings[s] = data
            mode = data.get("posMode") if isinstance(data, dict) else None
            if mode:
                self.pos_mode = mode

    async def prepare(self, symbol: str) -> None:
        """Read ``symbol``'s margin mode and leverage so ``submit_order`` can trade it."""
        await self._load_settings([self.contract(symbol).symbol])

    def margin_mode(self, symbol: str) -> str:
        """The margin mode orders of ``symbol`` are sent with (``crossed``/``isolated``)."""
        st = self._settings.get(symbol)
        if st is None:
            raise ConfigurationError(
                f"{symbol} is not prepared: pass it in symbols=[...] or await bp.prepare({symbol!r}) "
                "before submit_order (place_order does it by itself)")
        mode = str(st.get("marginMode") or "crossed").lower()
        return "crossed" if mode == "cross" else mode

    async def set_leverage(self, symbol: str, leverage: int | str,
                           hold_side: str | None = None) -> dict[str, Any]:
        """Set ``symbol``'s leverage (``hold_side`` for one side of an isolated hedge position)."""
        body: dict[str, Any] = {"symbol": self.contract(symbol).symbol, "productType": PRODUCT_TYPE,
                                "marginCoin": MARGIN_COIN, "leverage": str(leverage)}
        if hold_side:
            body["holdSide"] = hold_side
        data = await self.rest.request("POST", V2_MIX + "account/set-leverage", body=body)
        await self._load_settings([body["symbol"]])
        return data

    async def set_margin_mode(self, symbol: str, margin_mode: str) -> dict[str, Any]:
        """Set ``symbol``'s margin mode (``crossed``/``isolated``); Bitget refuses with open orders."""
        if margin_mode not in ("crossed", "isolated"):
            raise ValidationError("margin_mode must be 'crossed' or 'isolated'")
        sym = self.contract(symbol).symbol
        data = await self.rest.request("POST", V2_MIX + "account/set-margin-mode", body={
            "symbol": sym, "productType": PRODUCT_TYPE, "marginCoin": MARGIN_COIN,
            "marginMode": margin_mode})
        await self._load_settings([sym])
        return data

    async def set_position_mode(self, pos_mode: str) -> dict[str, Any]:
        """Set the account's position mode (``one_way_mode``/``hedge_mode``); never done implicitly."""
        if pos_mode not in ("one_way_mode", "hedge_mode"):
            raise ValidationError("pos_mode must be 'one_way_mode' or 'hedge_mode'")
        data = await self.rest.request("POST", V2_MIX + "account/set-position-mode", body={
            "productType": PRODUCT_TYPE, "posMode": pos_mode})
        self.pos_mode = pos_mode
        return data

    # ------------------------------------------------------------------ orders
    def _order_params(self, symbol: str, side: str, size: Any, price: Any, order_type: str,
                      reduce_only: bool, client_oid: str | None, extra: Mapping[str, Any] | None
                      ) -> tuple[Order, dict[str, Any]]:
        if self.rules is None:
            raise ConfigurationError("the connector is not started")
        c = self.rules[symbol.upper()]
        sym = c.symbol
        side = _check_side(side)
        kind = ORDER_TYPES.get(order_type)
        if kind is None:
            raise ValidationError(f"order_type must be one of {sorted(ORDER_TYPES)}, not {order_type!r}")
        ot, force = kind
        if c.symbol_status != "normal" and not (c.symbol_status == "limit_open" and reduce_only):
            raise ValidationError(
                f"{sym} is {c.symbol_status!r} "
                f"({SYMBOL_STATUSES.get(c.symbol_status, 'not open for trading')}): "
                + ("only reduce-only orders are accepted" if c.symbol_status == "limit_open"
                   else "no order is accepted") + "; nothing sent (bp.reload_rules() re-reads it)")
        # sizes and prices repeat (a market maker quotes a few of each): the checked wire
        # string, its Decimal and its mantissa are kept per (symbol, value as given[, market])
        # for str and finite Decimal inputs
        market = ot == "market"
        key = (sym, size, market)
        hit = self._sizes.get(key) if _cacheable(size) else None
        if hit is None:
            size_s = c.size_str(size, market=market)
            hit = (size_s, Decimal(size_s), int(size_s.replace(".", "")))
            if _cacheable(size):
                if len(self._sizes) >= SIZE_CACHE_MAX:
                    self._sizes.clear()
                self._sizes[key] = hit
        size_s, size_d, size_u = hit
        params: dict[str, Any] = {"symbol": sym, "productType": PRODUCT_TYPE,
                                  "marginMode": self.margin_mode(sym), "marginCoin": MARGIN_COIN,
                                  "size": size_s}
        if ot == "limit":
            if price is None:
                raise ValidationError(f"{sym}: a {order_type} order needs a price")
            pkey = (sym, price)
            phit = self._prices.get(pkey) if _cacheable(price) else None
            if phit is None:
                p_s = c.price_str(price)
                phit = (p_s, Decimal(p_s), int(p_s.replace(".", "")))
                if _cacheable(price):
                    if len(self._prices) >= PRICE_CACHE_MAX:
                        self._prices.clear()
                    self._prices[pkey] = phit
            price_s: str | None = phit[0]
            price_d: Decimal | None = phit[1]
            params["price"] = price_s
            # the common case, the whole order opens a position: minTradeUSDT in integers
            value_ok = size_u * phit[2] >= c._min_notional_units
        else:
            if price is not None:
                raise ValidationError(f"{sym}: a market order takes no price (got {price!r})")
            price_s = None
            price_d = None
            value_ok = False
        hedge = self.pos_mode == "hedge_mode"
        if not reduce_only and not (value_ok and (hedge or not self.account.positions)):
            self._check_value(c, side, size_s, size_d, price_s, hedge)
        if hedge:
            # DECISIONS 6: side is the execution direction; closing flips Bitget's side
            if reduce_only:
                params["side"] = "buy" if side == "sell" else "sell"
                params["tradeSide"] = "close"
                hold = "long" if side == "sell" else "short"
            else:
                params["side"] = side
                params["tradeSide"] = "open"
                hold = "long" if side == "buy" else "short"
        else:
            params["side"] = side
            if reduce_only:
                params["reduceOnly"] = "YES"
            hold = ""
        params["orderType"] = ot
        if force is not None:
            params["force"] = force
        if client_oid is None:
            oid = new_client_oid()
        else:
            oid = client_oid
            if type(oid) is not str or _CLIENT_OID_RE.fullmatch(oid) is None:
                raise ValidationError(
                    f"client_oid must be 1-50 characters of [A-Za-z0-9-_+#], not {oid!r}")
            if oid in self.tracker:
                raise ValidationError(f"client_oid {oid!r} was already used in this session")
        params["clientOid"] = oid
        if extra:
            params.update(extra)
        order = Order(oid, sym, side, order_type, size_d, price_d,
                      reduce_only=reduce_only, hold_side=hold)
        return order, params

    def _check_value(self, c: Contract, side: str, size_s: str, size_d: Decimal,
                     price_s: str | None, hedge: bool) -> None:
        """minTradeUSDT on the part of an order that opens a position, as Bitget applies it.

        Reduce-only orders are exempt (the caller skips them). In one-way mode the part
        that first closes the opposite position the connector holds is exempt too. A
        market order is valued at our live book's best ask (buy) or bid (sell), else at
        the position's mark price; with neither, Bitget alone decides (45110).
        """
        sym = c.symbol
        opening: str | Decimal = size_s
        if not hedge and self.account.positions:
            against = self.account.positions.get((sym, "short" if side == "buy" else "long"))
            if against is not None and against.size > 0:
                if size_d <= against.size:
                    return
                opening = size_d - against.size
        if price_s is None:
            price_s = self._reference_price(sym, side)
            if price_s is None:
                return
        try:
            c.check_notional(opening, price_s)
        except ValidationError as exc:
            if opening is size_s:
                raise
            raise ValidationError(f"{exc} (the part of the order beyond the {sym} position it "
                                  "closes opens a new one)") from None

    def _reference_price(self, symbol: str, side: str) -> str | None:
        """The price a market order is valued at: our book's best ask/bid, else the mark."""
        md = self._markets.get(symbol)
        if md is not None:
            book = md.books.get(symbol)
            if book is not None and book.is_valid:
                top = book.best_ask if side == "buy" else book.best_bid
                if top is not None:
                    return top[0]
        for hold in ("long", "short"):
            p = self.account.positions.get((symbol, hold))
            if p is not None and p.mark_price is not None:
                return str(p.mark_price)
        return None

    def submit_order(self, symbol: str, side: str, size: str | Decimal, price: str | Decimal | None = None,
                     *, order_type: str = "limit", reduce_only: bool = False,
                     client_oid: str | None = None, extra: Mapping[str, Any] | None = None) -> Order:
        """Check and send an order now; returns the tracked :class:`Order` (``pending_new``).

        Raises :class:`ValidationError` (nothing sent) if it breaks a trading rule. The
        reply and the stream update the order; ``await order.wait_status("live")`` or
        use :meth:`place_order` to wait for the reply.
        """
        order, params = self._order_params(symbol, side, size, price, order_type, reduce_only,
                                           client_oid, extra)
        self.tracker.add(order)
        self.counters["orders_submitted"] += 1
        ws = self._ws_orders()
        if ws is not None:
            ws_params = {k: v for k, v in params.items() if k not in ("symbol", "productType")}
            fut = ws.trade("place-order", order.symbol, ws_params)
        else:
            fut = self.rest.submit("POST", _PLACE, body=params, decode=_Ack, changes_orders=True)
        self._inflight[order.client_oid] = fut
        fut.add_done_callback(functools.partial(self._placed, order))
        return order

    def _ws_orders(self) -> PrivateStream | None:
        """The private stream when orders go over it (``order_transport="ws"``) and it is up;
        None means REST. While the stream is down, orders go over REST (counted in
        ``ws_order_fallbacks``): same clientOid, same tracking, and reconciliation is by REST
        anyway."""
        if self.order_transport != "ws":
            return None
        p = self._private
        if p is not None and p.ready:
            return p
        self.counters["ws_order_fallbacks"] += 1
        return None

    async def place_order(self, symbol: str, side: str, size: str | Decimal,
                          price: str | Decimal | None = None, *, order_type: str = "limit",
                          reduce_only: bool = False, client_oid: str | None = None,
                          extra: Mapping[str, Any] | None = None) -> Order:
        """Place an order and wait for Bitget's answer; returns the tracked :class:`Order`.

        Raises the mapped :class:`ExchangeError` if Bitget refused it (the order is then
        ``rejected``). If the reply was lost, the order is looked up by clientOid first:
        it is returned if it exists; the original error is raised if it does not.
        """
        sym = symbol.upper()
        if sym not in self._settings:
            await self.prepare(sym)
        order = self.submit_order(sym, side, size, price, order_type=order_type,
                                  reduce_only=reduce_only, client_oid=client_oid, extra=extra)
        await self._outcome(order)
        return order

    async def _outcome(self, order: Order) -> None:
        fut = self._inflight.get(order.client_oid)
        if fut is not None:
            # not shielded: if our caller is cancelled, so is this future, and _placed
            # then resolves the order by query (it may have been sent)
            try:
                await fut
            except Exception:  # noqa: BLE001 - classified below from the order's state
                pass
            if self._inflight.get(order.client_oid) is fut:
                # the future failed before we waited (refused without being sent): awaiting
                # it did not yield, and _placed, scheduled then, has not recorded it yet
                await asyncio.sleep(0)
        task = self._resolving.get(order.client_oid)
        if task is not None:
            await asyncio.shield(task)
        if order.status == OrderStatus.REJECTED and order.error is not None:
            raise order.error

    def _placed(self, order: Order, fut: asyncio.Future[Any]) -> None:
        self._inflight.pop(order.client_oid, None)
        if fut.cancelled():
            # the waiter gave up; the request may have reached Bitget: find out by query
            if not order.is_done and not self._closing:
                self.tracker.set_status(order, OrderStatus.UNKNOWN, "local", error=OutcomeUnknownError(
                    "cancelled", "the wait for the reply was cancelled; resolving by query",
                    path=_PLACE))
                self._resolve(order)
            return
        exc = fut.exception()
        if exc is None:
            ack = fut.result()
            order_id = ack.orderId if isinstance(ack, _Ack) else (ack or {}).get("orderId")
            self.tracker.set_order_id(order, order_id)
            self.tracker.set_status(order, OrderStatus.LIVE, "rest")
            return
        self._order_failed(order, exc)

    def _order_failed(self, order: Order, exc: BaseException) -> None:
        if isinstance(exc, OutcomeUnknownError) and self._closing:
            # our own shutdown cut the reply: say unknown, the next session reconciles it
            self.tracker.set_status(order, OrderStatus.UNKNOWN, "local", error=exc)
            return
        if isinstance(exc, OutcomeUnknownError):
            log.warning("order %s: %s; resolving by query", order.client_oid, exc)
            self.tracker.set_status(order, OrderStatus.UNKNOWN, "rest", error=exc)
            self._resolve(order)
        else:
            # refused (or never sent): rejected -- the stream can still revive it if the
            # exchange shows it after all
            self.tracker.set_status(order, OrderStatus.REJECTED, "rest" if isinstance(
                exc, ExchangeError) else "local", error=exc)
            if isinstance(exc, ExchangeError) and exc.code in SYMBOL_CLOSED_CODES:
                self._rules_stale()

    def _rules_stale(self) -> None:
        """Bitget says a symbol is not open: re-read the contracts (these reloads at most
        every RULES_RELOAD_MIN_S)."""
        now = time.monotonic()
        if self._closing or now - self._stale_reload < RULES_RELOAD_MIN_S:
            return
        self._stale_reload = now
        self._spawn(self._reload_quietly())

    async def _reload_quietly(self) -> None:
        try:
            await self.reload_rules()
        except BitgetError as exc:
            log.warning("reloading the trading rules failed: %s", exc)

    def _resolve(self, order: Order) -> asyncio.Task[None]:
        task = self._resolving.get(order.client_oid)
        if task is None or task.done():
            task = self._spawn(self._resolve_order(order))
            self._resolving[order.client_oid] = task
        return task

    async def _resolve_order(self, order: Order) -> None:
        """Query an order whose outcome is unknown until Bitget shows it, or give up: rejected."""
        delay = RESOLVE_FIRST_S
        last: BaseException | None = order.error
        try:
            for _ in range(RESOLVE_ATTEMPTS):
                if order.status not in (OrderStatus.UNKNOWN, OrderStatus.PENDING_NEW):
                    return
                await asyncio.sleep(delay)
                delay *= 2
                if order.status not in (OrderStatus.UNKNOWN, OrderStatus.PENDING_NEW):
                    return
                try:
                    row = await self.rest.request("GET", _DETAIL, params={
                        "symbol": order.symbol, "productType": PRODUCT_TYPE,
                        "clientOid": order.client_oid})
                except OrderNotFoundError as exc:
                    last = exc
                    continue
                except (ExchangeError, TransportError) as exc:
                    last = exc
                    continue
                if isinstance(row, dict):
                    self.tracker.apply_row(row, "reconcile")
                    self.counters["resolved_unknown"] += 1
                    return
            if order.status in (OrderStatus.UNKNOWN, OrderStatus.PENDING_NEW):
                err = order.error if isinstance(order.error, ExchangeError) else last
                self.tracker.set_status(order, OrderStatus.REJECTED, "reconcile", error=err or
                                        OutcomeUnknownError("not_found", "the order was not found "
                                                            "after the reply was lost"))
                self.counters["resolved_unknown"] += 1
        finally:
            if self._resolving.get(order.client_oid) is asyncio.current_task():
                del self._resolving[order.client_oid]

    async def cancel_order(self, symbol: str, client_oid: str) -> Order | None:
        """Cancel by clientOid; returns the tracked order (None if this session never saw it).

        Returns once Bitget acknowledged; the stream then shows it ``canceled`` (it is
        queried if it does not within a few seconds). Raises :class:`OrderNotFoundError`
        if Bitget has no such open order -- the tracked order then shows its final state.
        """
        sym = self.contract(symbol).symbol
        order = self.tracker.get(client_oid)
        try:
            ws = self._ws_orders()
            if ws is not None:
                await ws.trade("cancel-order", sym, {"clientOid": client_oid,
                                                     "marginCoin": MARGIN_COIN})
            else:
                await self.rest.submit("POST", _CANCEL, body={
                    "symbol": sym, "productType": PRODUCT_TYPE, "marginCoin": MARGIN_COIN,
                    "clientOid": client_oid}, decode=_Ack, changes_orders=True)
        except OrderNotFoundError:
            if order is not None:
                await self._query(order)
            raise
        except OutcomeUnknownError:
            if order is not None:
                await self._query(order)
                if order.is_done:
                    return order
            raise
        if order is not None:
            self._watch_cancel(order)
        return order

    def _watch_cancel(self, order: Order) -> None:
        self._confirm(order, ())   # must end final

    def _confirm(self, order: Order, statuses: tuple[str, ...]) -> None:
        """Query ``order`` if the stream has not shown it in ``statuses`` (or final) within
        ``CANCEL_CONFIRM_S``. One dict entry per order; one sweeper task looks at them all."""
        self._watch[order.client_oid] = (order, statuses,
                                         time.monotonic() + CANCEL_CONFIRM_S)
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = self._spawn(self._sweep_watch())

    async def _sweep_watch(self) -> None:
        """Every ``WATCH_SWEEP_S`` while orders are watched: query those still not confirmed."""
        watch = self._watch
        while watch and not self._closing:
            await asyncio.sleep(WATCH_SWEEP_S)
            now = time.monotonic()
            for cid, (order, statuses, deadline) in list(watch.items()):
                if order.is_done or order.status in statuses:
                    del watch[cid]
                elif now >= deadline:
                    del watch[cid]
                    self.counters["cancel_checks"] += 1
                    self._spawn(self._query(order))

    async def _query(self, order: Order) -> None:
        """Refresh ``order`` from REST detail (errors are logged, the stream may still tell)."""
        ident = ({"orderId": order.order_id} if order.client_oid.startswith(EXT_PREFIX)
                 else {"clientOid": order.client_oid})
        try:
            row = await self.rest.request("GET", _DETAIL, params={
                "symbol": order.symbol, "productType": PRODUCT_TYPE, **ident})
        except OrderNotFoundError:
            if order.client_oid in self._inflight or order.client_oid in self._resolving:
                # its place is unanswered, or being looked up after a lost reply: "not
                # found" may only mean "not there yet", and that reply or lookup decides
                return
            self.tracker.set_status(order, OrderStatus.REJECTED, "reconcile",
                                    error=OrderNotFoundError("40768", "Bitget has no such order",
                                                             path=_DETAIL))
            return
        except (ExchangeError, TransportError) as exc:
            log.warning("query of %s failed: %s", order.client_oid, exc)
            return
        if isinstance(row, dict):
            self.tracker.apply_row(row, "reconcile")

    async def amend_order(self, symbol: str, client_oid: str, *, new_price: str | Decimal | None = None,
                          new_size: str | Decimal | None = None,
                          new_client_oid: str | None = None) -> Order:
        """Change a live limit order's price and/or size (Bitget's modify-order).

        Bitget replaces it: returns the new tracked :class:`Order` (``pending_new`` until
        the stream shows it); the old one ends ``canceled`` with ``replaced_by`` set.
        """
        old = self.tracker.get(client_oid)
        if old is None:
            raise ValidationError(f"order {client_oid!r} is not tracked by this session")
        if new_price is None and new_size is None:
            raise ValidationError("amend_order needs new_price and/or new_size")
        if old.order_type == "market":
            raise ValidationError("only limit orders can be amended")
        order, params = self._order_params(
            old.symbol, old.side, old.size if new_size is None else new_size,
            old.price if new_price is None else new_price, old.order_type, old.reduce_only,
            new_client_oid, None)
        order.replaces = old.client_oid
        body = {"symbol": order.symbol, "productType": PRODUCT_TYPE, "clientOid": old.client_oid,
                "newClientOid": order.client_oid, "newPrice": params["price"],
                "newSize": params["size"], "marginCoin": MARGIN_COIN}
        self.tracker.add(order)
        try:
            await self.rest.submit("POST", _MODIFY, body=body, decode=_Ack, changes_orders=True)
        except OutcomeUnknownError as exc:
            self.tracker.set_status(order, OrderStatus.UNKNOWN, "rest", error=exc)
            old.replaced_by = order.client_oid
            await self._resolve(order)
            await self._query(old)
            if order.status == OrderStatus.REJECTED:
                old.replaced_by = ""
                raise
            return order
        except BaseException as exc:
            self.tracker.set_status(order, OrderStatus.REJECTED, "rest", error=exc)
            raise
        old.replaced_by = order.client_oid
        self._watch_cancel(old)
        self._confirm(order, (OrderStatus.LIVE,))
        return order

    async def batch_place(self, orders: Iterable[Mapping[str, Any]]) -> list[Order]:
        """Place several orders (dicts of :meth:`place_order`'s arguments), up to 50 per request
        per symbol. Returns every :class:`Order`; refused ones are ``rejected`` with ``error``.
        """
        built: dict[str, list[tuple[Order, dict[str, Any]]]] = {}
        for spec in orders:
            spec = dict(spec)
            sym = str(spec.pop("symbol")).upper()
            if sym not in self._settings:
                await self.prepare(sym)
            o, p = self._order_params(sym, spec.pop("side"), spec.pop("size"), spec.pop("price", None),
                                      spec.pop("order_type", "limit"), spec.pop("reduce_only", False),
                                      spec.pop("client_oid", None), spec.pop("extra", None))
            if spec:
                raise ValidationError(f"unknown order fields: {sorted(spec)}")
            built.setdefault(sym, []).append((o, p))
        result: list[Order] = []
        for sym, items in built.items():
            for i in range(0, len(items), BATCH_MAX):
                chunk = items[i:i + BATCH_MAX]
                first = chunk[0][1]
                body = {"symbol": sym, "productType": PRODUCT_TYPE, "marginCoin": MARGIN_COIN,
                        "marginMode": first["marginMode"],
                        "orderList": [{k: v for k, v in p.items()
                                       if k not in ("symbol", "productType", "marginCoin",
                                                    "marginMode")} for _, p in chunk]}
                for o, _ in chunk:
                    self.tracker.add(o)
                    result.append(o)
                try:
                    reply = await self.rest.submit("POST", _BATCH_PLACE, body=body,
                                                   decode=_BatchReply, changes_orders=True)
                except BitgetError as exc:   # refused, or OutcomeUnknownError: resolved per order
                    for o, _ in chunk:
                        self._order_failed(o, exc)
                    continue
                outcomes = self._batch_outcomes(reply, _BATCH_PLACE)
                for o, _ in chunk:
                    item, err = outcomes.get(o.client_oid, (None, _unlisted(_BATCH_PLACE)))
                    if err is None:
                        self.tracker.set_order_id(o, item.orderId)   # type: ignore[union-attr]
                        self.tracker.set_status(o, OrderStatus.LIVE, "rest")
                    else:
                        self._order_failed(o, err)
        return result

    def _batch_outcomes(self, reply: _BatchReply, path: str
                        ) -> dict[str, tuple[_BatchItem, ExchangeError | None]]:
        """clientOid -> (its entry, None if in ``successList`` else its error) of a batch reply."""
        out: dict[str, tuple[_BatchItem, ExchangeError | None]] = {}
        for items, ok in ((reply.successList or (), True), (reply.failureList or (), False)):
            for item in items:
                oid = item.clientOid
                if not oid and item.orderId:   # named by orderId only
                    o = self.tracker.by_order_id(item.orderId)
                    oid = o.client_oid if o is not None else None
                if oid:
                    out[oid] = (item, None if ok else exchange_error(
                        str(item.errorCode or ""), item.errorMsg or "", path=path))
        return out

    async def batch_cancel(self, symbol: str, client_oids: Iterable[str]) -> dict[str, BaseException | None]:
        """Cancel several orders of one symbol; clientOid -> None (acknowledged) or the error."""
        sym = self.contract(symbol).symbol
        oids = list(client_oids)
        out: dict[str, BaseException | None] = {}
        for i in range(0, len(oids), BATCH_MAX):
            chunk = oids[i:i + BATCH_MAX]
            reply = await self.rest.submit("POST", _BATCH_CANCEL, body={
                "symbol": sym, "productType": PRODUCT_TYPE, "marginCoin": MARGIN_COIN,
                "orderIdList": [{"clientOid": oid} for oid in chunk]},
                decode=_BatchReply, changes_orders=True)
            outcomes = self._batch_outcomes(reply, _BATCH_CANCEL)
            for oid in chunk:
                err = outcomes.get(oid, (None, _unlisted(_BATCH_CANCEL)))[1]
                out[oid] = err
                o = self.tracker.get(oid)
                if o is not None and (err is None or isinstance(err, OutcomeUnknownError)):
                    self._watch_cancel(o)   # the stream should show it final; else query
        return out

    async def cancel_all(self, symbol: str | None = None) -> int:
        """Cancel every open order (of ``symbol``, or of the whole product); returns how many Bitget listed."""
        if symbol is not None:
            sym = self.contract(symbol).symbol
            reply = await self.rest.submit("POST", _BATCH_CANCEL, body={
                "symbol": sym, "productType": PRODUCT_TYPE, "marginCoin": MARGIN_COIN},
                decode=_BatchReply, changes_orders=True)
        else:
            reply = await self.rest.submit("POST", _CANCEL_ALL, body={
                "productType": PRODUCT_TYPE, "marginCoin": MARGIN_COIN},
                decode=_BatchReply, changes_orders=True)
        for o in self.tracker.open_orders(symbol.upper() if symbol else None):
            self._watch_cancel(o)
        return len(reply.successList or ())

    async def close_positions(self, symbol: str | None = None, *,
                              hold_side: str | None = None) -> list[Order]:
        """Flash-close at market every position (of ``symbol``; ``hold_side`` ``long``/``short``
        in hedge mode); returns the closing orders Bitget created, tracked (``external``).

        Bitget allows it once per second. If Bitget could not close some position, the
        mapped :class:`ExchangeError` is raised after the orders that were created are tracked.
        """
        body: dict[str, Any] = {"productType": PRODUCT_TYPE}
        if symbol is not None:
            body["symbol"] = self.contract(symbol).symbol
        if hold_side is not None:
            if hold_side not in ("long", "short"):
                raise ValidationError(f"hold_side must be 'long' or 'short', not {hold_side!r}")
            if self.pos_mode != "hedge_mode":
                raise ValidationError("hold_side applies in hedge mode only; in one-way mode "
                                      "each symbol has one position")
            body["holdSide"] = hold_side
        reply = await self.rest.submit("POST", _CLOSE_POSITIONS, body=body, decode=_BatchReply,
                                       changes_orders=True)
        ids = [i.orderId for i in reply.successList or () if i.orderId]
        # the closing orders reach us on the orders channel; if a push is missing, the
        # reconciliation finds them through their fills
        deadline = time.monotonic() + CLOSE_WAIT_S
        while any(self.tracker.by_order_id(i) is None for i in ids):
            if time.monotonic() > deadline:
                await self.reconcile()
                break
            await asyncio.sleep(0.005)
        orders = [o for o in map(self.tracker.by_order_id, ids) if o is not None]
        failures = reply.failureList or []
        if failures:
            f = failures[0]
            more = f" ({len(failures)} positions not closed, {len(ids)} closing orders placed)"
            raise exchange_error(str(f.errorCode or ""), (f.errorMsg or "") + more,
                                 path=_CLOSE_POSITIONS, changes_orders=True)
        return orders

    # ------------------------------------------------------------------ reconciliation
    async def reconcile(self) -> None:
        """Bring orders, fills, positions and balances in line with REST (run after every
        reconnect of the private stream; safe to call any time)."""
        async with self._reconcile_lock:
            self.counters["reconciles"] += 1
            seen: set[str] = set()
            end_id = None
            while True:
                params: dict[str, Any] = {"productType": PRODUCT_TYPE, "limit": 100}
                if end_id:
                    params["idLessThan"] = end_id
                page = await self.rest.request("GET", _PENDING, params=params)
                rows = rows_of(page, "entrustedList", _PENDING)
                for row in rows:
                    o = self.tracker.apply_row(row, "reconcile")
                    if o is not None:
                        seen.add(o.client_oid)
                end_id = page.get("endId") if page else None
                if len(rows) < 100 or not end_id:
                    break
            # every order we think is open but Bitget does not list as open: ask for it
            for o in self.tracker.open_orders():
                if o.client_oid not in seen and o.client_oid not in self._inflight:
                    await self._query(o)
            await self._reconcile_fills()
            for o in self.tracker.placeholders():
                await self._query(o)
            # a snapshot asked for before the stream's latest push is older than it: skipped
            asked = time.monotonic()
            positions = await self.rest.request("GET", _POSITIONS, params={
                "productType": PRODUCT_TYPE, "marginCoin": MARGIN_COIN})
            self.account.apply_positions(rows_of(positions, None, _POSITIONS), "reconcile",
                                         asked_at=asked)
            asked = time.monotonic()
            accounts = await self.rest.request("GET", _ACCOUNTS, params={"productType": PRODUCT_TYPE})
            self.account.apply_balances(rows_of(accounts, None, _ACCOUNTS), "reconcile",
                                        asked_at=asked)

    async def _reconcile_fills(self) -> None:
        since = max(self._started_ms, self.tracker.last_fill_ms) - FILL_LOOKBACK_MS
        end_id = None
        while True:
            params: dict[str, Any] = {"productType": PRODUCT_TYPE, "startTime": since, "limit": 100}
            if end_id:
                params["idLessThan"] = end_id
            page = await self.rest.request("GET", _FILLS, params=params)
            rows = rows_of(page, "fillList", _FILLS)
            for row in reversed(rows):   # oldest first
                self.tracker.apply_fill(row, "reconcile")
            end_id = page.get("endId") if page else None
            if len(rows) < 100 or not end_id:
                break

    # ------------------------------------------------------------------ stream input
    def _on_push(self, channel: str, rows: list[dict[str, Any]]) -> None:
        try:
            apply_private_rows(self.tracker, self.account, channel, rows)
        except BitgetError as exc:
            self._event("rejected", "", channel, f"a {channel} push could not be applied: {exc}")
            self._spawn(self.reconcile())

    # ------------------------------------------------------------------ events out
    def _deliver(self, kind: str, item: Any) -> None:
        for f in self._feeds[kind]:
            f._put(item)
        cb = self._user[kind]
        if cb is not None:
            try:
                cb(item)
            except Exception as exc:  # noqa: BLE001 - the connector stops; wait() re-raises
                self._callback_failed(exc)

    def _order_changed(self, order: Order, source: str) -> None:
        if self._user["order"] is not None or self._feeds["order"]:
            self._deliver("order", self.tracker.update_event(order, source))

    def _fill_seen(self, fill: Fill) -> None:
        self._deliver("fill", fill)

    def _position_changed(self, upd: PositionUpdate) -> None:
        self._deliver("position", upd)

    def _balance_changed(self, upd: BalanceUpdate) -> None:
        self._deliver("balance", upd)

    def _stream_event(self, ev: StreamEvent) -> None:
        self.events.append(ev)
        cb = self._user["event"]
        if cb is not None:
            try:
                cb(ev)
            except Exception as exc:  # noqa: BLE001
                self._callback_failed(exc)

    def _callback_failed(self, exc: BaseException) -> None:
        if self._failure is None:
            self._failure = exc
            log.error("a user callback raised %r: stopping the connector", exc)
            self._spawn(self.close())

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        t = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._task_done)
        return t

    def _task_done(self, t: asyncio.Task[Any]) -> None:
        self._tasks.discard(t)
        if not t.cancelled() and t.exception() is not None and not self._closing:
            exc = t.exception()
            log.warning("background task failed: %r", exc)
            if isinstance(exc, (ExchangeError, TransportError)):
                self._event("error", "", "", f"background reconciliation failed: {exc}")
