"""The simulator's REST API: Bitget V2 paths, envelopes, authentication, rate limits, faults.

Every reply is Bitget's envelope ``{"code","msg","requestTime","data"}``. HTTP statuses
follow DECISIONS.md §5: 400 business/parameter errors, 401 authentication, 404 unknown
path, 429 rate limit. Signed requests are verified exactly as Bitget does: the prehash is
``timestamp + METHOD + path (+ "?" + the query string as sent) + body``.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import parse_qsl

import orjson

from . import reference
from ..intervals import DAY_MS, HISTORY_LIMIT, INTERVALS, MAX_SPAN_MS, RECENT_LIMIT
from ..limits import GLOBAL_LIMIT_PER_MIN, ORDER_PATHS, REST_RATE_LIMITS, V2_MIX
from .contracts import MARGIN_COIN, PRODUCT_TYPE
from .engine import SIM_CODES, Account, Order, SimError
from .http import Request, Response

if TYPE_CHECKING:
    from .server import Simulator

__all__ = ["RestApi", "RATE_LIMITS", "TIMESTAMP_WINDOW_MS", "RestFault", "CONTROL_PATH",
           "CONTROLS", "check_count", "check_seconds", "KLINE_TYPES", "CHANNEL_CODE_HEADER"]

_log = logging.getLogger("bitget_fast.sim.api")

TIMESTAMP_WINDOW_MS = 30_000
# Not a Bitget path: scripting faults and the market from outside the process (the CLI's
# ``bitget-fast fault``). POST {"name": <one of CONTROLS>, "args": {...}}.
CONTROL_PATH = "/sim/control"
CONTROLS = frozenset({
    "drop_connections", "stall", "corrupt_checksum", "skip_seq", "send_malformed",
    "send_oversized", "fail_rest", "never_answer", "reply_raw", "delay_acks", "ws_events_before_rest",
    "clear_faults", "restart", "advance", "set_mark_price", "set_funding_rate", "settle_funding",
    "set_symbol_status",
})
# Bitget's documented limits and the order-changing paths: one table, shared with the client.
RATE_LIMITS = REST_RATE_LIMITS
_V2 = V2_MIX

KLINE_TYPES = {"MARKET": "market", "MARK": "mark", "INDEX": "index"}
"""``kLineType`` of ``/candles`` -> the simulator's candle kind."""
CHANNEL_CODE_HEADER = "x-channel-api-code"
"""The optional broker header recorded per order created by a signed REST request."""
# channel_codes is pruned to the orders the engine still holds once it doubles past this
_CODES_PRUNE_AT = 10_000


class RestFault:
    """One scripted REST fault: answer ``status`` / never answer / delay, ``count`` times."""

    __slots__ = ("kind", "path", "count", "status", "code", "execute", "delay_s", "data")

    def __init__(self, kind: str, path: str | None, count: int, status: int = 500,
                 code: str = "", execute: bool = False, delay_s: float = 0.0,
                 data: bytes = b"") -> None:
        # checked here: a bad value would otherwise break every later request it matches
        check_count(count)
        if type(status) is not int or not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error status (400-599), not {status!r}")
        check_seconds(delay_s, "seconds")
        self.kind = kind
        self.path = path
        self.count = count
        self.status = status
        self.code = code
        self.execute = execute
        self.delay_s = delay_s
        self.data = bytes(data)

    def matches(self, path: str) -> bool:
        return self.count != 0 and (self.path is None or self.path == path)


def check_count(v: Any, name: str = "count") -> int:
    """A fault's repeat count: an int (negative: forever)."""
    if type(v) is not int:
        raise TypeError(f"{name} must be an integer, not {v!r}")
    return v


def check_seconds(v: Any, name: str) -> float:
    """A fault's duration: a number of seconds in [0, 86400]."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 86_400:
        raise ValueError(f"{name} must be a number of seconds in [0, 86400], not {v!r}")
    return float(v)


def _ok(data: Any) -> Response:
    return Response(200, orjson.dumps({"code": "00000", "msg": "success",
                                       "requestTime": int(time.time() * 1000), "data": data}))


def _fail(code: str, msg: str, status: int) -> Response:
    return Response(status, orjson.dumps({"code": code, "msg": msg,
                                          "requestTime": int(time.time() * 1000), "data": None}))


class RestApi:
    """Routes one request to its endpoint; the HTTP server's handler."""

    def __init__(self, sim: "Simulator") -> None:
        self.sim = sim
        self.engine = sim.engine
        self.enforce_limits = sim.enforce_rate_limits
        self.windows: dict[tuple[str, str], deque[float]] = {}
        self.global_windows: dict[str, deque[float]] = {}
        self.faults: list[RestFault] = []
        self.ack_delays: list[RestFault] = []
        # orderId -> X-CHANNEL-API-CODE of the REST request that created it (None: absent)
        self.channel_codes: dict[str, str | None] = {}
        self._codes_prune_at = _CODES_PRUNE_AT
        self._channel_code: str | None = None     # the header of the request being handled
        pub: dict[str, Callable[[dict[str, str]], Any]] = {
            "/api/v2/public/time": self.time,
            _V2 + "market/contracts": self.contracts,
            _V2 + "market/merge-depth": self.merge_depth,
            _V2 + "market/ticker": self.ticker,
            _V2 + "market/tickers": self.tickers,
            _V2 + "market/current-fund-rate": self.fund_rate,
            _V2 + "market/funding-time": self.funding_time,
            _V2 + "market/symbol-price": self.symbol_price,
            _V2 + "market/open-interest": self.open_interest,
            _V2 + "market/candles": self.candles,
            _V2 + "market/history-candles": self.history_candles,
            _V2 + "market/history-mark-candles": self.history_mark_candles,
            _V2 + "market/history-index-candles": self.history_index_candles,
            _V2 + "market/fills": self.public_fills,
            _V2 + "market/fills-history": self.public_fills_history,
        }
        self.public = pub
        self.private_get: dict[str, Callable[[Account, dict[str, str]], Any]] = {
            _V2 + "order/detail": self.order_detail,
            _V2 + "order/orders-pending": self.orders_pending,
            _V2 + "order/orders-history": self.orders_history,
            _V2 + "order/fills": self.fills,
            _V2 + "position/all-position": self.all_position,
            _V2 + "position/single-position": self.single_position,
            _V2 + "account/account": self.account,
            _V2 + "account/accounts": self.accounts,
            _V2 + "account/bill": self.bill,
            # ccxt probes this to tell a Unified (UTA) account from a classic one
            "/api/v3/account/settings": self.uta_settings,
        }
        self.private_post: dict[str, Callable[[Account, dict[str, Any]], Any]] = {
            _V2 + "order/place-order": self.place_order,
            _V2 + "order/batch-place-order": self.batch_place,
            _V2 + "order/cancel-order": self.cancel_order,
            _V2 + "order/batch-cancel-orders": self.batch_cancel,
            _V2 + "order/cancel-all-orders": self.cancel_all,
            _V2 + "order/modify-order": self.modify_order,
            _V2 + "order/close-positions": self.close_positions,
            _V2 + "account/set-leverage": self.set_leverage,
            _V2 + "account/set-margin-mode": self.set_margin_mode,
            _V2 + "account/set-position-mode": self.set_position_mode,
        }

    # ---------------------------------------------------------------- limits
    def _take(self, key: tuple[str, str], per_s: int) -> bool:
        """Count one request in a 1 s sliding window; True when over the limit."""
        if not self.enforce_limits:
            return False
        now = time.monotonic()
        q = self.windows.get(key)
        if q is None:
            q = self.windows[key] = deque()
        while q and now - q[0] >= 1.0:
            q.popleft()
        if len(q) >= per_s:
            return True
        q.append(now)
        return False

    def take_rate(self, acc: Account, path: str) -> bool:
        """Rate-limit check for an account's request to ``path`` (WS trading shares buckets)."""
        lim = RATE_LIMITS.get(path)
        return bool(lim) and self._take((acc.uid, path), lim[0])  # type: ignore[index]

    def _global(self, ip: str) -> bool:
        if not self.enforce_limits:
            return False
        now = time.monotonic()
        q = self.global_windows.setdefault(ip, deque())
        while q and now - q[0] >= 60.0:
            q.popleft()
        if len(q) >= GLOBAL_LIMIT_PER_MIN:
            return True
        q.append(now)
        return False

    def take_ack_delay(self, path: str) -> float:
        for f in self.ack_delays:
            if f.matches(path):
                if f.count > 0:
                    f.count -= 1
                return f.delay_s
        return 0.0

    # ---------------------------------------------------------------- dispatch
    def __call__(self, req: Request) -> Response | Any:
        path = req.path
        fault = None
        for f in self.faults:
            if f.matches(path):
                fault = f
                if f.count > 0:
                    f.count -= 1
                break
        if fault is not None:
            _log.info("fault: %s on %s %s", fault.kind, req.method, path)
            if fault.execute:
                self._dispatch(req)
            if fault.kind == "never":
                return asyncio.get_running_loop().create_future()
            if fault.kind == "raw":
                return Response(0, b"", raw=fault.data)
            return _fail(fault.code or str(fault.status), "simulated fault: service unavailable"
                         if fault.status >= 500 else "Too Many Requests", fault.status)
        res = self._dispatch(req)
        delay = self.take_ack_delay(path) if self.ack_delays else 0.0
        if delay:
            return _delayed(res, delay)
        if self.sim.ws_events_first and path in ORDER_PATHS:
            # the WS pushes have just been sent synchronously; the reply follows a moment later
            return _delayed(res, 0.005)
        return res

    def _dispatch(self, req: Request) -> Response:
        path = req.path
        if path == CONTROL_PATH:
            return self.control(req)
        if self._global(req.peer[0]):
            return _fail("429", "Too Many Requests", 429)
        try:
            public = self.public.get(path)
            if public is not None:
                if req.method != "GET":
                    return _fail("40404", f"Request URL NOT FOUND: {req.method} {path}", 404)
                lim = RATE_LIMITS.get(path)
                if lim and self._take((req.peer[0], path), lim[0]):
                    return _fail("429", "Too Many Requests", 429)
                return _ok(public(dict(parse_qsl(req.query, keep_blank_values=True))))
            get = self.private_get.get(path)
            post = self.private_post.get(path)
            if (get is None or req.method != "GET") and (post is None or req.method != "POST"):
                return _fail("40404", f"Request URL NOT FOUND: {req.method} {path}", 404)
            acc = self.authenticate(req)
            lim = RATE_LIMITS.get(path)
            if lim and self._take((acc.uid, path), lim[0]):
                return _fail("429", "Too Many Requests", 429)
            if get is not None and req.method == "GET":
                data = get(acc, dict(parse_qsl(req.query, keep_blank_values=True)))
            else:
                try:
                    body = orjson.loads(req.body) if req.body else None
                except orjson.JSONDecodeError:
                    raise SimError(SIM_CODES["bad_param"], "Parameter verification failed: "
                                   "the body is not JSON") from None
                if not isinstance(body, dict):
                    raise SimError(SIM_CODES["bad_param"], "Parameter verification failed: the "
                                   "body must be a JSON object")
                assert post is not None
                self._channel_code = req.headers.get(CHANNEL_CODE_HEADER)
                try:
                    data = post(acc, body)
                finally:
                    self._channel_code = None
                    self.engine.flush()
            return _ok(data)
        except SimError as e:
            return _fail(e.code, e.msg, e.http_status)

    def control(self, req: Request) -> Response:
        """Run one whitelisted Simulator method from a JSON request (faults, market control)."""
        if req.method != "POST":
            return _fail("40404", f"Request URL NOT FOUND: {req.method} {req.path}", 404)
        try:
            body = orjson.loads(req.body or b"{}")
        except orjson.JSONDecodeError:
            return _fail("40017", "the control body must be JSON", 400)
        name = body.get("name") if isinstance(body, dict) else None
        args = body.get("args") or {} if isinstance(body, dict) else {}
        if not isinstance(name, str) or name not in CONTROLS or not isinstance(args, dict):
            return _fail("40017", f"unknown control {name!r}; one of {', '.join(sorted(CONTROLS))}",
                         400)
        if "data" in args and isinstance(args["data"], str):
            args["data"] = args["data"].encode()
        method = getattr(self.sim, name)
        try:
            if name == "restart":
                # checked now: the reply goes out before the listeners close
                inspect.signature(method).bind(**args)
                args["downtime_s"] = check_seconds(args.get("downtime_s", 0.2), "downtime_s")
                asyncio.get_running_loop().call_later(0.05, lambda: asyncio.ensure_future(
                    method(**args)))
                result = None
            else:
                result = method(**args)
        except (TypeError, ValueError, ArithmeticError, SimError) as e:
            return _fail("40017", f"{name}: {e}", 400)
        _log.info("control: %s %s", name, args)
        return _ok({"name": name, "result": result})

    def authenticate(self, req: Request) -> Account:
        """Bitget's signed-request checks, each with Bitget's code (HTTP 401)."""
        h = req.headers
        key = h.get("access-key", "")
        sign = h.get("access-sign", "")
        ts = h.get("access-timestamp", "")
        passphrase = h.get("access-passphrase", "")
        if not key:
            raise SimError("40001", "ACCESS_KEY cannot be empty", 401)
        if not sign:
            raise SimError("40002", "ACCESS_SIGN cannot be empty", 401)
        if not ts:
            raise SimError("40003", "ACCESS_TIMESTAMP cannot be empty", 401)
        if not passphrase:
            raise SimError("40011", "ACCESS_PASSPHRASE cannot be empty", 401)
        if not ts.isdigit() or not ts.isascii() or len(ts) > 16:
            raise SimError("40005", "Invalid ACCESS_TIMESTAMP", 401)
        if abs(int(ts) - self.engine.now_ms()) > TIMESTAMP_WINDOW_MS:
            raise SimError("40008", "Request timestamp expired", 401)
        acc = self.engine.accounts.get(key)
        if acc is None:
            raise SimError("40006", "Invalid ACCESS_KEY", 401)
        if not hmac.compare_digest(passphrase.encode(), acc.passphrase.encode()):
            raise SimError("40012", "apikey/password is incorrect", 401)
        # the body is signed as the bytes sent (it may not even be UTF-8)
        want = reference.sign(acc.secret, reference.prehash(
            ts, req.method, req.path, req.query or None).encode() + req.body)
        if not hmac.compare_digest(sign.encode("latin-1"), want.encode()):
            raise SimError("40009", "sign signature error", 401)
        return acc

    # ---------------------------------------------------------------- public
    def time(self, q: dict[str, str]) -> Any:
        return {"serverTime": str(self.engine.now_ms())}

    def _product(self, q: dict[str, Any], required: bool = True) -> bool:
        pt = q.get("productType")
        if not pt:
            if required:
                raise SimError("40019", "productType cannot be empty")
            return True
        pt = str(pt)   # a JSON body may hold any type here
        if pt.upper() in ("USDT-FUTURES",):
            return True
        if pt.upper() in ("COIN-FUTURES", "USDC-FUTURES", "SUSDT-FUTURES", "SCOIN-FUTURES",
                          "SUSDC-FUTURES"):
            return False
        raise SimError("40017", f"productType {pt} does not exist")

    def contracts(self, q: dict[str, str]) -> Any:
        if not self._product(q):
            return []
        sym = q.get("symbol")
        markets = [self.engine.market(sym)] if sym else list(self.engine.markets.values())
        return [{**m.spec.as_rest(), "symbolStatus": m.status} for m in markets]

    def merge_depth(self, q: dict[str, str]) -> Any:
        self._product(q)
        m = self.engine.market(q.get("symbol"))
        spec = m.spec
        limit_s = q.get("limit") or "100"
        if limit_s == "max":
            limit = 1000
        elif limit_s.isdigit() and int(limit_s) in (1, 5, 15, 50, 100):
            limit = int(limit_s)
        else:
            raise SimError("40017", "limit must be 1, 5, 15, 50, 100 or max")
        precision = q.get("precision") or "scale0"
        if precision not in ("scale0", "scale1", "scale2", "scale3"):
            raise SimError("40017", "precision must be scale0..scale3")
        step = spec.tick * 10 ** int(precision[-1])

        def merged(is_bid: bool) -> list[list[Any]]:
            side = m.bids if is_bid else m.asks
            out: dict[int, int] = {}
            order: list[int] = []
            for p in side.top(len(side.prices)):
                bucket = (p // step) * step if is_bid else -((-p) // step) * step
                if bucket not in out:
                    if len(order) >= limit:
                        break
                    order.append(bucket)
                    out[bucket] = 0
                out[bucket] += side.levels[p][0]
            # numbers, as Bitget's documentation shows them; the exact decimal text is kept
            return [[orjson.Fragment(spec.price_str(p).encode()),
                     orjson.Fragment(spec.size_str(out[p]).encode())] for p in order]

        return {"asks": merged(False), "bids": merged(True), "ts": str(self.engine.now_ms()),
                "scale": spec.price_str(step), "precision": precision,
                "isMaxPrecision": "YES" if precision == "scale0" else "NO"}

    def ticker(self, q: dict[str, str]) -> Any:
        self._product(q)
        return [self._ticker_row(self.engine.market(q.get("symbol")))]

    def tickers(self, q: dict[str, str]) -> Any:
        if not self._product(q):
            return []
        return [self._ticker_row(m) for m in self.engine.markets.values()]

    def _ticker_row(self, m: Any) -> dict[str, Any]:
        row = self.sim.hub.ticker_row(m)
        row.pop("instId")
        row.pop("symbolType")
        row.pop("deliveryPrice")
        return row

    def fund_rate(self, q: dict[str, str]) -> Any:
        if not self._product(q):
            return []
        ms = [self.engine.market(q["symbol"])] if q.get("symbol") else list(self.engine.markets.values())
        return [{"symbol": m.symbol, "fundingRate": format(m.funding_rate, "f"),
                 "fundingRateInterval": str(self.sim.funding_interval_h(m)),
                 "nextUpdate": str(m.next_funding_ms), "minFundingRate": "-0.003",
                 "maxFundingRate": "0.003"} for m in ms]

    def funding_time(self, q: dict[str, str]) -> Any:
        self._product(q)
        m = self.engine.market(q.get("symbol"))
        return [{"symbol": m.symbol, "nextFundingTime": str(m.next_funding_ms),
                 "ratePeriod": str(self.sim.funding_interval_h(m))}]

    def symbol_price(self, q: dict[str, str]) -> Any:
        self._product(q)
        m = self.engine.market(q.get("symbol"))
        s = m.spec
        return [{"symbol": m.symbol, "price": s.price_str(m.last), "indexPrice": s.price_str(m.index),
                 "markPrice": s.price_str(m.mark), "ts": str(self.engine.now_ms())}]

    def open_interest(self, q: dict[str, str]) -> Any:
        self._product(q)
        m = self.engine.market(q.get("symbol"))
        return {"openInterestList": [{"symbol": m.symbol, "size": m.spec.size_str(m.open_interest)}],
                "ts": str(self.engine.now_ms())}

    def candles(self, q: dict[str, str]) -> Any:
        """``/candles``: ``kLineType`` picks the kind; only Bitget's recent depth per
        granularity (``Interval.recent_days``); at most 1000 rows."""
        kind = KLINE_TYPES.get(q.get("kLineType") or "MARKET")
        if kind is None:
            raise SimError("40017", f"kLineType {q.get('kLineType')!r} is not supported; "
                           f"one of {', '.join(KLINE_TYPES)}")
        return self._candles(q, kind, True)

    def history_candles(self, q: dict[str, str]) -> Any:
        """``/history-candles``: market candles, all history, at most 200 rows."""
        return self._candles(q, "market", False)

    def history_mark_candles(self, q: dict[str, str]) -> Any:
        """``/history-mark-candles``: mark price candles, all history, at most 200 rows."""
        return self._candles(q, "mark", False)

    def history_index_candles(self, q: dict[str, str]) -> Any:
        """``/history-index-candles``: index price candles, all history, at most 200 rows."""
        return self._candles(q, "index", False)

    def _candles(self, q: dict[str, str], kind: str, recent: bool) -> Any:
        self._product(q)
        m = self.engine.market(q.get("symbol"))
        gran = q.get("granularity") or ""
        iv = INTERVALS.get(gran)
        if iv is None:
            raise SimError("40017", f"granularity {gran!r} is not supported; one of "
                           f"{' '.join(INTERVALS)}")
        limit = _int(q.get("limit"), 100, 1, RECENT_LIMIT if recent else HISTORY_LIMIT, "limit")
        start = _int(q.get("startTime"), 0, 0, 1 << 62, "startTime")
        end = _int(q.get("endTime"), 1 << 62, 0, 1 << 62, "endTime")
        if q.get("startTime") and q.get("endTime") and end - start > MAX_SPAN_MS:
            raise SimError("40017", "the maximum time query range is 90 days")
        now = self.engine.now_ms()
        if recent and iv.recent_days is not None:
            start = max(start, now - iv.recent_days * DAY_MS)
        return self.sim._candle_rows(m, iv, start, end, limit, kind, now)

    def public_fills(self, q: dict[str, str]) -> Any:
        self._product(q)
        m = self.engine.market(q.get("symbol"))
        limit = _int(q.get("limit"), 100, 1, 100, "limit")
        return [_trade_row(m, t) for t in reversed(list(m.trades)[-limit:])]

    def public_fills_history(self, q: dict[str, str]) -> Any:
        """Public trades, newest first, paged by ``idLessThan`` / time (the last 1000 are kept)."""
        self._product(q)
        m = self.engine.market(q.get("symbol"))
        limit = _int(q.get("limit"), 500, 1, 1000, "limit")
        below = _int(q.get("idLessThan"), 1 << 64, 0, 1 << 64, "idLessThan")
        start = _int(q.get("startTime"), 0, 0, 1 << 62, "startTime")
        end = _int(q.get("endTime"), 1 << 62, 0, 1 << 62, "endTime")
        out: list[dict[str, str]] = []
        for trade in reversed(m.trades):
            if int(trade[0]) >= below or not start <= trade[4] <= end:
                continue
            out.append(_trade_row(m, trade))
            if len(out) >= limit:
                break
        return out

    # ---------------------------------------------------------------- private: orders
    def _remember_code(self, order_id: str) -> None:
        """Record the current request's channel code for an order it created."""
        codes = self.channel_codes
        codes[order_id] = self._channel_code
        if len(codes) >= self._codes_prune_at:
            # the engine forgets old final orders (Engine.forget_history): so does this
            held = set().union(*(a.orders for a in self.engine.accounts.values()))
            self.channel_codes = {k: v for k, v in codes.items() if k in held}
            self._codes_prune_at = max(_CODES_PRUNE_AT, 2 * len(self.channel_codes))

    def place_order(self, acc: Account, b: dict[str, Any]) -> Any:
        o = self.engine.place_order(acc, b)
        self._remember_code(o.order_id)
        return {"orderId": o.order_id, "clientOid": o.client_oid}

    def batch_place(self, acc: Account, b: dict[str, Any]) -> Any:
        self._product(b)
        self.engine.market(b.get("symbol"))
        lst = b.get("orderList")
        if not isinstance(lst, list) or not lst:
            raise SimError("40019", "orderList cannot be empty")
        if len(lst) > 50:
            raise SimError("40017", "orderList holds at most 50 orders")
        ok, bad = [], []
        for item in lst:
            if not isinstance(item, dict):
                bad.append({"orderId": "", "clientOid": "", "errorMsg": "order must be an object",
                            "errorCode": "40017"})
                continue
            p = {**item, "symbol": b.get("symbol"), "productType": b.get("productType"),
                 "marginCoin": b.get("marginCoin"), "marginMode": b.get("marginMode")}
            try:
                o = self.engine.place_order(acc, p)
                self._remember_code(o.order_id)
                ok.append({"orderId": o.order_id, "clientOid": o.client_oid})
            except SimError as e:
                bad.append({"orderId": "", "clientOid": str(item.get("clientOid") or ""),
                            "errorMsg": e.msg, "errorCode": e.code})
        return {"successList": ok, "failureList": bad}

    def cancel_order(self, acc: Account, b: dict[str, Any]) -> Any:
        self._product(b)
        o = self.engine.cancel_order(acc, b.get("symbol"), b.get("orderId"), b.get("clientOid"))
        return {"orderId": o.order_id, "clientOid": o.client_oid}

    def batch_cancel(self, acc: Account, b: dict[str, Any]) -> Any:
        self._product(b)
        lst = b.get("orderIdList")
        ok, bad = [], []
        if lst in (None, []):
            sym = self.engine.market(b["symbol"]).symbol if b.get("symbol") else None
            for o in self.engine.cancel_all(acc, sym):
                ok.append({"orderId": o.order_id, "clientOid": o.client_oid})
            return {"successList": ok, "failureList": bad}
        if not isinstance(lst, list) or len(lst) > 50:
            raise SimError("40017", "orderIdList must be a list of at most 50 items")
        m = self.engine.market(b.get("symbol"))
        for item in lst:
            item = item if isinstance(item, dict) else {}
            try:
                o = self.engine.cancel_order(acc, m.symbol, item.get("orderId"), item.get("clientOid"))
                ok.append({"orderId": o.order_id, "clientOid": o.client_oid})
            except SimError as e:
                bad.append({"orderId": str(item.get("orderId") or ""),
                            "clientOid": str(item.get("clientOid") or ""),
                            "errorMsg": e.msg, "errorCode": e.code})
        return {"successList": ok, "failureList": bad}

    def cancel_all(self, acc: Account, b: dict[str, Any]) -> Any:
        if not self._product(b):
            return {"successList": [], "failureList": []}
        if b.get("marginCoin") and str(b["marginCoin"]).upper() != MARGIN_COIN:
            return {"successList": [], "failureList": []}
        done = self.engine.cancel_all(acc)
        return {"successList": [{"orderId": o.order_id, "clientOid": o.client_oid} for o in done],
                "failureList": []}

    def close_positions(self, acc: Account, b: dict[str, Any]) -> Any:
        if not self._product(b):
            return {"successList": [], "failureList": []}
        sym = self.engine.market(b["symbol"]).symbol if b.get("symbol") else None
        hold = b.get("holdSide")
        done, failed = self.engine.close_positions(acc, sym, str(hold).lower() if hold else None)
        for o in done:
            self._remember_code(o.order_id)
        return {"successList": [{"orderId": o.order_id, "clientOid": o.client_oid} for o in done],
                "failureList": failed}

    def modify_order(self, acc: Account, b: dict[str, Any]) -> Any:
        o = self.engine.modify_order(acc, b)
        new = acc.by_client_oid.get(str(b.get("newClientOid")))
        if new is not None and new is not o:
            self._remember_code(new.order_id)
        return {"orderId": o.order_id, "clientOid": o.client_oid}

    def order_detail(self, acc: Account, q: dict[str, str]) -> Any:
        self._product(q)
        m = self.engine.market(q.get("symbol"))
        o = self.engine.find_order(acc, m.symbol, q.get("orderId"), q.get("clientOid"))
        return self.engine.rest_order(o, state_key="state")

    def _order_list(self, acc: Account, q: dict[str, str], final: bool) -> Any:
        if not self._product(q):
            return {"entrustedList": None, "endId": None}
        sym = self.engine.market(q["symbol"]).symbol if q.get("symbol") else None
        limit = _int(q.get("limit"), 100, 1, 100, "limit")
        below = _int(q.get("idLessThan"), 1 << 64, 0, 1 << 64, "idLessThan")
        start = _int(q.get("startTime"), 0, 0, 1 << 62, "startTime")
        end = _int(q.get("endTime"), 1 << 62, 0, 1 << 62, "endTime")
        status = q.get("status")
        if not final and status not in (None, "", "live", "partially_filled"):
            raise SimError("40017", "status must be live or partially_filled")
        src = acc.orders.values() if final else acc.open_orders.values()
        rows: list[Order] = []
        for o in src:
            if final != (o.status in ("filled", "canceled")):
                continue
            if sym and o.market.symbol != sym:
                continue
            if q.get("orderId") and o.order_id != q["orderId"]:
                continue
            if q.get("clientOid") and o.client_oid != q["clientOid"]:
                continue
            if status and o.status != status:
                continue
            if int(o.order_id) >= below or not start <= o.c_time <= end:
                continue
            rows.append(o)
        rows.sort(key=lambda o: int(o.order_id), reverse=True)
        rows = rows[:limit]
        return {"entrustedList": [self.engine.rest_order(o) for o in rows] or None,
                "endId": rows[-1].order_id if rows else None}

    def orders_pending(self, acc: Account, q: dict[str, str]) -> Any:
        return self._order_list(acc, q, False)

    def orders_history(self, acc: Account, q: dict[str, str]) -> Any:
        return self._order_list(acc, q, True)

    def fills(self, acc: Account, q: dict[str, str]) -> Any:
        if not self._product(q):
            return {"fillList": None, "endId": None}
        sym = self.engine.market(q["symbol"]).symbol if q.get("symbol") else None
        limit = _int(q.get("limit"), 100, 1, 100, "limit")
        below = _int(q.get("idLessThan"), 1 << 64, 0, 1 << 64, "idLessThan")
        rows = []
        for f in reversed(acc.fills):
            if sym and f["symbol"] != sym:
                continue
            if q.get("orderId") and f["orderId"] != q["orderId"]:
                continue
            if int(f["tradeId"]) >= below:
                continue
            rows.append({k: v for k, v in f.items() if k not in ("clientOid", "uTime")})
            if len(rows) >= limit:
                break
        return {"fillList": rows or None, "endId": rows[-1]["tradeId"] if rows else None}

    # ---------------------------------------------------------------- private: positions, account
    def all_position(self, acc: Account, q: dict[str, str]) -> Any:
        if not self._product(q):
            return []
        return [self._rest_pos(acc, p) for p in acc.positions.values()]

    def single_position(self, acc: Account, q: dict[str, str]) -> Any:
        self._product(q)
        m = self.engine.market(q.get("symbol"))
        if not q.get("marginCoin"):
            raise SimError("40019", "marginCoin cannot be empty")
        return [self._rest_pos(acc, p) for p in acc.positions.values() if p.symbol == m.symbol]

    def _rest_pos(self, acc: Account, p: Any) -> dict[str, Any]:
        row = self.engine.position_row(acc, p)
        for k in ("posId", "instId", "frozen", "marginRate"):
            row.pop(k)
        return row

    def accounts(self, acc: Account, q: dict[str, str]) -> Any:
        if not self._product(q):
            return []
        return [self.engine.accounts_row(acc)]

    def account(self, acc: Account, q: dict[str, str]) -> Any:
        self._product(q)
        m = self.engine.market(q.get("symbol"))
        if not q.get("marginCoin"):
            raise SimError("40019", "marginCoin cannot be empty")
        row = self.engine.accounts_row(acc)
        lev = acc.leverage.setdefault(m.symbol, {"crossed": 20, "long": 20, "short": 20})
        row.update({"crossedMarginLeverage": lev["crossed"], "isolatedLongLever": lev["long"],
                    "isolatedShortLever": lev["short"], "marginMode": acc.mode(m.symbol),
                    "posMode": acc.pos_mode})
        return row

    def bill(self, acc: Account, q: dict[str, str]) -> Any:
        self._product(q)
        limit = _int(q.get("limit"), 20, 1, 100, "limit")
        below = _int(q.get("idLessThan"), 1 << 64, 0, 1 << 64, "idLessThan")
        kind = q.get("businessType")
        only_funding = (q.get("onlyFunding") or "").lower() == "yes"
        rows = []
        for b in reversed(acc.bills):
            if int(b["billId"]) >= below:
                continue
            if kind and b["businessType"] != kind:
                continue
            if only_funding and b["businessType"] != "contract_settle_fee":
                continue
            rows.append(b)
            if len(rows) >= limit:
                break
        return {"bills": rows, "endId": rows[-1]["billId"] if rows else None}

    def uta_settings(self, acc: Account, q: dict[str, str]) -> Any:
        # every simulated account is a classic account: the V3 (UTA) API refuses it
        raise SimError("40084", "You are in Classic Account mode, and the Unified Account API is "
                       "not supported at this time")

    def set_leverage(self, acc: Account, b: dict[str, Any]) -> Any:
        self._product(b)
        m = self.engine.market(b.get("symbol"))
        lev = self.engine.set_leverage(acc, m.symbol, b)
        return {"symbol": m.symbol, "marginCoin": MARGIN_COIN, "longLeverage": str(lev["long"]),
                "shortLeverage": str(lev["short"]), "crossMarginLeverage": str(lev["crossed"]),
                "marginMode": acc.mode(m.symbol)}

    def set_margin_mode(self, acc: Account, b: dict[str, Any]) -> Any:
        self._product(b)
        m = self.engine.market(b.get("symbol"))
        self.engine.set_margin_mode(acc, m.symbol, b.get("marginMode"))
        lev = acc.leverage.setdefault(m.symbol, {"crossed": 20, "long": 20, "short": 20})
        return {"symbol": m.symbol, "marginCoin": MARGIN_COIN, "longLeverage": str(lev["long"]),
                "shortLeverage": str(lev["short"]), "marginMode": acc.mode(m.symbol)}

    def set_position_mode(self, acc: Account, b: dict[str, Any]) -> Any:
        self._product(b)
        self.engine.set_position_mode(acc, b.get("posMode"))
        return {"posMode": acc.pos_mode}


def _trade_row(m: Any, trade: tuple[str, int, int, str, int]) -> dict[str, str]:
    """One public trade as the market fills endpoints show it."""
    tid, price, size, side, ts = trade
    return {"tradeId": tid, "price": m.spec.price_str(price), "size": m.spec.size_str(size),
            "side": side, "ts": str(ts), "symbol": m.symbol}


async def _delayed(res: Response, delay: float) -> Response:
    await asyncio.sleep(delay)
    return res


def _int(v: Any, default: int, lo: int, hi: int, name: str) -> int:
    if v in (None, ""):
        return default
    s = str(v)
    if not s.isdigit() or not s.isascii() or not lo <= int(s) <= hi:
        raise SimError("40017", f"{name} must be an integer in [{lo}, {hi}]")
    return int(s)

