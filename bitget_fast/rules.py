"""Trading rules of USDT-M perpetuals, from ``GET /api/v2/mix/market/contracts``.

Every price and size is checked and formatted here before an order is sent, so an off-tick
price or a size below the minimum is a :class:`~bitget_fast.errors.ValidationError` on the
client, with a message that says what would be valid, instead of a ``45115``/``45110``/
``45111``/``40808`` from Bitget a round trip later (protocol reference sections 10.2, 3.2).

Rules (protocol reference section 10.2):

- a price is a positive multiple of the tick ``priceEndStep * 10**-pricePlace``
  (``pricePlace 2, priceEndStep 5``: multiples of 0.05, so 9000.15 is valid, 8999.13 is not);
- a size is a positive multiple of ``sizeMultiplier``, at least ``minTradeNum`` and at most
  ``maxOrderQty`` (limit orders) or ``maxMarketOrderQty`` (market orders) when Bitget sends them;
- the order value ``size * price`` is at least ``minTradeUSDT``.

Inputs are ``str``, :class:`~decimal.Decimal` or ``int``. A ``float`` is refused (0.1 is not
0.1 in binary, and a price one ulp off the tick is an order Bitget rejects); so are ``bool``,
NaN, infinities, zero, negative values, strings with spaces, underscores or non-ASCII digits.
Any other literal :class:`~decimal.Decimal` reads is accepted when its value is exact on the
grid: ``"60000.10"`` (a zero beyond ``pricePlace``), ``"6.00001e4"``, ``"+5"``, ``".5"``.

Wire strings are canonical: plain digits, no sign, no exponent, no needless leading zero, and
exactly ``pricePlace``/``volumePlace`` decimals (``"60000"`` at pricePlace 1 is sent as
``"60000.0"``), which is how Bitget itself prints prices and sizes. A string that is already
canonical is returned as it is (no copy).

Prices and sizes are handled as integer mantissas at their places, at most
:data:`MAX_DIGITS` digits (they fit an int64, like the order book's levels); larger values are
refused as too large. Results never depend on the caller's decimal context.

Loading: :meth:`TradingRules.from_response` takes the envelope's ``data``. The mapping holds
the USDT-M perpetuals (symbolType ``perpetual``, no ``deliveryPeriod``, quoteCoin ``USDT``);
other rows are kept in ``rules.others``; a row with a missing or malformed field is left out
and recorded in ``rules.rejected`` (one bad row does not stop trading the others), and asking
for its symbol says why. A response that is not a list of objects with symbols, or in which no
row can be read, is a :class:`~bitget_fast.errors.ProtocolError`.

Not checked here, on purpose: ``symbolStatus`` (the trading layer checks
:attr:`Contract.tradeable`; ``limit_open`` still allows closing), the limit price band
(``buyLimitPriceRatio``/``sellLimitPriceRatio``: Bitget does not document the formula), order
and position counts. :meth:`Contract.check_notional` is for the caller to apply: Bitget applies
``minTradeUSDT`` to the part of an order that opens a position, so a reduce-only order may be
exempt, and a market order needs a reference price (best bid/ask or mark).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator, Mapping
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal, InvalidOperation
from typing import Any, Union

import msgspec

from .errors import ConfigurationError, ProtocolError, ValidationError

__all__ = ["Contract", "TradingRules", "UnknownSymbolError", "MAX_DIGITS", "SYMBOL_STATUSES"]

Number = Union[str, Decimal, int]
"""What the checks take: a str or Decimal (or an int); never a float."""

MAX_DIGITS = 18
"""A price or size has at most this many digits at its places (below 10**18 units: an int64)."""

SYMBOL_STATUSES: dict[str, str] = {
    "normal": "open for trading",
    "listed": "listed but not open for trading yet",
    "maintain": "under maintenance: no trading",
    "limit_open": "opening positions is restricted (closing is allowed)",
    "restrictedAPI": "trading through the API is restricted",
    "off": "offline (delisted)",
}
"""``symbolStatus`` values Bitget documents, and what they mean; only ``normal`` is tradeable."""

_LIMIT = 10 ** MAX_DIGITS          # mantissas are < _LIMIT
_POW10 = tuple(10 ** i for i in range(2 * MAX_DIGITS + 2))
# What Decimal reads, restricted to ASCII and without the spaces and underscores it allows.
_LITERAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_MODES = ("down", "up", "nearest")
_PLACE = {"price": "pricePlace", "size": "volumePlace"}


def _fmt(m: int, places: int) -> str:
    """Mantissa ``m`` at ``places`` -> canonical string with exactly ``places`` decimals."""
    if not places:
        return str(m)
    s = str(m)
    if len(s) <= places:
        s = "0" * (places + 1 - len(s)) + s
    return s[:-places] + "." + s[-places:]


def _plain(d: Decimal) -> str:
    """A Decimal for a message: no exponent unless the number is absurdly large or small."""
    if d.is_finite() and -60 <= d.adjusted() <= 60:
        return format(d, "f")
    return str(d)


def _shown(value: object) -> str:
    """The user's value as a message shows it: a clean literal plainly, anything else by repr."""
    if isinstance(value, str):
        text = value if _LITERAL.fullmatch(value) else repr(value)
    elif isinstance(value, Decimal):
        text = str(value)
    elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        # repr() of an int above 4300 digits raises; nobody reads one that long anyway
        return f"<an int of {Decimal(value).adjusted() + 1} digits>"
    else:
        text = repr(value)
    return text if len(text) <= 100 else f"{text[:60]}...{text[-20:]} ({len(text)} characters)"


def _decimal(value: object, symbol: str, what: str) -> Decimal:
    """``value`` -> a finite Decimal > 0, or the ValidationError that says why not."""
    if isinstance(value, str):
        if not _LITERAL.fullmatch(value):
            raise ValidationError(
                f"{symbol}: {what} {value!r} is not a decimal number: write ASCII digits with an "
                f"optional '.' and no spaces or underscores, e.g. '60000.1'")
        try:
            d = Decimal(value)
        except InvalidOperation:   # an exponent beyond Decimal's range
            raise ValidationError(f"{symbol}: {what} {value!r} is out of Decimal's "
                                  f"range") from None
    elif isinstance(value, Decimal):
        d = value
        if not d.is_finite():
            raise ValidationError(f"{symbol}: {what} {value} is not a finite number")
    elif isinstance(value, bool):
        raise ValidationError(f"{symbol}: {what} {value!r} is a bool, not a number; "
                              f"pass a str or Decimal")
    elif isinstance(value, int):
        d = Decimal(value)
    elif isinstance(value, float):
        raise ValidationError(
            f"{symbol}: {what} {value!r} is a float; pass a str or Decimal instead (floats are "
            f"inexact: 0.1 is stored as {Decimal(0.1)})")
    else:
        raise ValidationError(f"{symbol}: {what} must be a str, Decimal or int, "
                              f"not {type(value).__name__}")
    if d <= 0:
        sign = "zero" if d == 0 else "negative"
        raise ValidationError(f"{symbol}: {what} {_shown(value)} is {sign}; it must be positive")
    return d


def _split(d: Decimal, places: int) -> tuple[int, int, int] | None:
    """Positive ``d`` -> ``(n, r, den)`` with ``d * 10**places == n + r/den``, 0 <= r < den.

    None when ``d`` is at or above ``10**MAX_DIGITS`` units (too large to send). Values below one
    unit are replaced by 1/100 of a unit, which every rounding treats alike, so that an input
    like 1e-999999 never builds a million-digit denominator.
    """
    adj = d.adjusted()
    if adj >= MAX_DIGITS - places:
        return None
    if adj < -places - 1:
        return 0, 1, 100
    num, den = d.as_integer_ratio()
    n, r = divmod(num * _POW10[places], den)
    return n, r, den


def _split_rounding(d: Decimal, places: int) -> tuple[int, int, int] | None:
    """:func:`_split` with one digit of headroom, for rounding: a value at or a little above
    ``10**MAX_DIGITS`` units may round down onto the grid below it (caught after rounding)."""
    if d.adjusted() == MAX_DIGITS - places:
        num, den = d.as_integer_ratio()
        n, r = divmod(num * _POW10[places], den)
        return n, r, den
    return _split(d, places)


def _round(n: int, r: int, den: int, step: int, mode: str) -> int:
    """``(n + r/den) / step`` rounded by ``mode`` (ties away from zero), times ``step``."""
    k, rem = divmod(n, step)
    num = rem * den + r                    # the remainder above k*step, in units of 1/den
    if num and (mode == "up" or (mode == "nearest" and 2 * num >= step * den)):
        k += 1
    return k * step


def _check_mode(mode: object) -> None:
    if mode not in _MODES:
        raise ValidationError(f"mode must be 'down', 'up' or 'nearest', not {mode!r}")


def _units_exact(value: object, symbol: str, what: str, places: int
                 ) -> tuple[int, Decimal] | tuple[None, Decimal]:
    """Slow path: ``(mantissa, Decimal)``, or ``(None, Decimal)`` when not exact at ``places``."""
    d = _decimal(value, symbol, what)
    parts = _split(d, places)
    if parts is None:
        raise ValidationError(
            f"{symbol}: {what} {_shown(value)} is too large: at most {MAX_DIGITS} digits at "
            f"{_PLACE[what]} {places} (below {_fmt(_LIMIT, places)})")
    n, r, _ = parts
    return (n if not r else None), d


class UnknownSymbolError(ValidationError, KeyError):
    """The symbol is not a known USDT-M perpetual (a ValidationError and a KeyError)."""

    def __str__(self) -> str:        # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class Contract(msgspec.Struct, frozen=True, dict=True):
    """One symbol's trading rules, as one row of ``GET /api/v2/mix/market/contracts`` gives them.

    ``max_order_qty``/``max_market_order_qty`` are None when Bitget did not send them (rows
    before 2025-06); the price-band ratios likewise. ``delivery_period`` is empty for perpetuals.
    Hashable and immutable; build it with :meth:`from_row`, or directly (the values are checked).
    """

    symbol: str
    base_coin: str
    quote_coin: str
    price_place: int
    price_end_step: int
    volume_place: int
    size_multiplier: Decimal
    min_trade_num: Decimal
    min_trade_usdt: Decimal
    max_order_qty: Decimal | None
    max_market_order_qty: Decimal | None
    maker_fee_rate: Decimal
    taker_fee_rate: Decimal
    symbol_status: str
    symbol_type: str
    min_lever: int
    max_lever: int
    buy_limit_price_ratio: Decimal | None
    sell_limit_price_ratio: Decimal | None
    delivery_period: str = ""

    # Derived integers for the hot path live in the instance __dict__ (not fields: they stay
    # out of repr, ==, hash and encoding). Every way msgspec builds a Struct runs __post_init__
    # (init, replace, pickle, decode, convert) except copy.copy, which would drop the __dict__:
    # an immutable object is its own copy. (A __getattr__ fallback would do too, but it makes
    # every attribute read of the class about 3x slower, the hot path's included.)
    def __post_init__(self) -> None:
        self.__dict__.update(_derive(self))

    def __copy__(self) -> Contract:
        return self

    # -------------------------------------------------------------------------- properties
    @property
    def tick(self) -> Decimal:
        """Price step: ``price_end_step * 10**-price_place`` (e.g. Decimal('0.5'))."""
        return self._tick                                  # type: ignore[attr-defined]

    @property
    def tradeable(self) -> bool:
        """``symbol_status == "normal"``; :data:`SYMBOL_STATUSES` says what the others mean."""
        return self.symbol_status == "normal"

    @property
    def usdt_perpetual(self) -> bool:
        """A USDT-margined perpetual: symbolType perpetual, no deliveryPeriod, quoteCoin USDT."""
        return (self.symbol_type == "perpetual" and not self.delivery_period
                and self.quote_coin == "USDT")

    # -------------------------------------------------------------------------- prices
    def price_str(self, price: Number) -> str:
        """The canonical wire string of ``price``; ValidationError unless a multiple of the tick."""
        # Fastest path: a str already canonical (exactly pricePlace decimals, no needless
        # leading zero) is checked as an int mantissa and returned as it is; a Decimal is
        # checked through its str(), which is exact. The literal 18 is MAX_DIGITS: 18 digits
        # keep the mantissa below 10**18 without another test.
        text = str(price) if type(price) is Decimal else price
        if type(text) is str:
            whole, dot, frac = text.partition(".")
            pp = self.price_place
            if len(frac) == pp and (pp or not dot):
                digits = whole + frac
                if digits.isdigit() and digits.isascii() and len(digits) <= 18 and whole \
                        and (whole[0] != "0" or whole == "0"):
                    m = int(digits)
                    if m and not m % self.price_end_step:
                        return text
        # Other plain forms ("60000", Decimal('60000.5'), ints) as a mantissa, then formatted.
        m = _mantissa(price, self.price_place)
        if m is None or m % self.price_end_step:
            m = self._price_units(price)       # anything else, or the error that explains
        return _fmt(m, self.price_place)

    def _price_units(self, price: object) -> int:
        """Slow path of price_str: the mantissa, or the ValidationError that explains."""
        pp = self.price_place
        step = self.price_end_step
        m, d = _units_exact(price, self.symbol, "price", pp)
        if m is not None and m and not m % step:
            return m
        # off the grid (or below the first tick): name the valid neighbours
        n, r, den = _split(d, pp)                          # type: ignore[misc]
        lo = _round(n, r, den, step, "down")
        hi = _round(n, r, den, step, "up")
        if hi == lo:
            hi += step
        where = (f"the tick {_plain(self.tick)} (pricePlace {pp}, priceEndStep {step})")
        if lo == 0:
            valid = f"the smallest valid price is {_fmt(step, pp)}"
        elif hi >= _LIMIT:
            valid = f"the largest valid price is {_fmt(lo, pp)}"
        else:
            valid = f"nearest valid prices {_fmt(lo, pp)} and {_fmt(hi, pp)}"
        raise ValidationError(f"{self.symbol}: price {_shown(price)} is not a multiple of "
                              f"{where}; {valid}")

    def round_price(self, price: Number, mode: str = "nearest") -> Decimal:
        """``price`` rounded to the tick: ``"down"``, ``"up"`` or ``"nearest"`` (ties up); valid."""
        pp = self.price_place
        step = self.price_end_step
        _check_mode(mode)
        d = _decimal(price, self.symbol, "price")
        parts = _split_rounding(d, pp)
        m = _round(*parts, step, mode) if parts is not None else _LIMIT
        if m >= _LIMIT:
            raise ValidationError(
                f"{self.symbol}: price {_shown(price)} is too large: rounded {mode} to the tick "
                f"it is not below {_fmt(_LIMIT, pp)} ({MAX_DIGITS} digits at pricePlace {pp})")
        if m == 0:
            raise ValidationError(
                f"{self.symbol}: price {_shown(price)} rounded {mode} to the tick "
                f"{_plain(self.tick)} is 0, which is not a valid price; the smallest valid "
                f"price is {_fmt(step, pp)}")
        return Decimal(_fmt(m, pp))

    # -------------------------------------------------------------------------- sizes
    def size_str(self, size: Number, *, market: bool = False) -> str:
        """The canonical wire string of ``size``; ValidationError unless on step, in min/max."""
        text = str(size) if type(size) is Decimal else size     # as in price_str
        if type(text) is str:
            whole, dot, frac = text.partition(".")
            vp = self.volume_place
            if len(frac) == vp and (vp or not dot):
                digits = whole + frac
                if digits.isdigit() and digits.isascii() and len(digits) <= 18 and whole \
                        and (whole[0] != "0" or whole == "0"):
                    m = int(digits)
                    if (not m % self._lot and self._min_units <= m
                            and m <= (self._max_market_units if market else self._max_units)):
                        return text
        m = _mantissa(size, self.volume_place)
        if (m is None or m % self._lot or m < self._min_units
                or m > (self._max_market_units if market else self._max_units)):
            m = self._size_units(size, market)
        return _fmt(m, self.volume_place)

    def _size_bounds(self, market: bool) -> tuple[int, int, str]:
        """(smallest valid mantissa, largest valid mantissa, name of the max rule)."""
        lot = self._lot
        lo = -(-self._min_units // lot) * lot
        hi = (self._max_market_units if market else self._max_units) // lot * lot
        if market:
            rule = ("maxMarketOrderQty " + _plain(self.max_market_order_qty)
                    if self.max_market_order_qty is not None else "")
        else:
            rule = ("maxOrderQty " + _plain(self.max_order_qty)
                    if self.max_order_qty is not None else "")
        return lo, hi, rule

    def _size_units(self, size: object, market: bool) -> int:
        """Slow path of size_str: the mantissa, or the ValidationError that explains."""
        vp = self.volume_place
        lot = self._lot
        m, d = _units_exact(size, self.symbol, "size", vp)
        lo, hi, max_rule = self._size_bounds(market)
        kind = "market" if market else "limit"
        shown = _shown(size)
        if lo > hi:
            raise ValidationError(
                f"{self.symbol}: no size is valid for {kind} orders: {max_rule} is below the "
                f"smallest size on the step {_plain(self.size_multiplier)} and at least "
                f"minTradeNum {_plain(self.min_trade_num)}, {_fmt(lo, vp)}")
        if d < self.min_trade_num:
            raise ValidationError(
                f"{self.symbol}: size {shown} is below minTradeNum {_plain(self.min_trade_num)}; "
                f"the smallest valid size is {_fmt(lo, vp)}")
        max_qty = self.max_market_order_qty if market else self.max_order_qty
        if max_qty is not None and d > max_qty:
            raise ValidationError(f"{self.symbol}: size {shown} is above {max_rule} for {kind} "
                                  f"orders; the largest valid size is {_fmt(hi, vp)}")
        if m is not None and not m % lot:
            return m
        n, r, den = _split(d, vp)                          # type: ignore[misc]
        below = _round(n, r, den, lot, "down")
        above = _round(n, r, den, lot, "up")
        if above == below:
            above += lot
        where = f"sizeMultiplier {_plain(self.size_multiplier)} (volumePlace {vp})"
        if below < lo:
            valid = f"the smallest valid size is {_fmt(lo, vp)}"
        elif above > hi:
            valid = f"the largest valid size is {_fmt(hi, vp)}"
        else:
            valid = f"nearest valid sizes {_fmt(below, vp)} and {_fmt(above, vp)}"
        raise ValidationError(f"{self.symbol}: size {shown} is not a multiple of {where}; {valid}")

    def round_size(self, size: Number, mode: str = "down", *, market: bool = False) -> Decimal:
        """``size`` rounded to the size step (default down); ValidationError if outside min/max."""
        vp = self.volume_place
        _check_mode(mode)
        d = _decimal(size, self.symbol, "size")
        parts = _split_rounding(d, vp)
        m = _round(*parts, self._lot, mode) if parts is not None else _LIMIT
        lo, hi, max_rule = self._size_bounds(market)
        step = _plain(self.size_multiplier)
        if m < lo:
            why = (f"below minTradeNum {_plain(self.min_trade_num)}" if self.min_trade_num > 0
                   else "which is not a valid size")
            raise ValidationError(
                f"{self.symbol}: size {_shown(size)} rounded {mode} to the step {step} is "
                f"{_fmt(m, vp)}, {why}; the smallest valid size is {_fmt(lo, vp)}")
        if m > hi:
            # on the grid and above the largest valid size: past 10**18 units, or above the max
            if m >= _LIMIT:
                raise ValidationError(
                    f"{self.symbol}: size {_shown(size)} is too large: rounded {mode} to the "
                    f"step {step} it is not below {_fmt(_LIMIT, vp)} ({MAX_DIGITS} digits at "
                    f"volumePlace {vp})")
            raise ValidationError(
                f"{self.symbol}: size {_shown(size)} rounded {mode} to the step {step} is above "
                f"{max_rule} for {'market' if market else 'limit'} orders; the largest valid "
                f"size is {_fmt(hi, vp)}")
        return Decimal(_fmt(m, vp))

    # -------------------------------------------------------------------------- order value
    def check_notional(self, size: Number, price: Number) -> None:
        """ValidationError unless ``size * price >= min_trade_usdt`` (Bitget's 45110 otherwise)."""
        # Fast path: two strs with exactly volumePlace / pricePlace decimals (what size_str and
        # price_str return) are exact int mantissas; compare their product in integers.
        if type(size) is str and type(price) is str:
            sw, _, sf = size.partition(".")
            pw, _, pf = price.partition(".")
            s_digits = sw + sf
            p_digits = pw + pf
            if (len(sf) == self.volume_place and len(pf) == self.price_place
                    and s_digits.isdigit() and p_digits.isdigit() and s_digits.isascii()
                    and p_digits.isascii() and len(s_digits) <= 18 and len(p_digits) <= 18):
                product = int(s_digits) * int(p_digits)
                if product >= self._min_notional_units and product:
                    return
        s_m = _mantissa(size, self.volume_place)
        p_m = _mantissa(price, self.price_place)
        if s_m is not None and p_m is not None and s_m * p_m >= self._min_notional_units:
            return
        # Slow path (off-place values, or below the minimum): exact Decimal arithmetic.
        s = _units_exact(size, self.symbol, "size", self.volume_place)[1]
        p = _units_exact(price, self.symbol, "price", self.price_place)[1]
        value = _exact_mul(s, p)
        if value >= self.min_trade_usdt:
            return
        hint = ""
        on_place = _split(p, self.price_place)
        if on_place is not None and not on_place[1] and on_place[0]:
            need = self._smallest_size_for(p)
            hint = (f"; at price {_plain(p)} the smallest valid size that meets it is "
                    f"{_fmt(need, self.volume_place)}" if need is not None else
                    f"; no valid size meets it at price {_plain(p)}")
        raise ValidationError(
            f"{self.symbol}: order value {_plain(s)} x {_plain(p)} = {_plain(value)} USDT is "
            f"below minTradeUSDT {_plain(self.min_trade_usdt)}{hint}")

    def _smallest_size_for(self, price: Decimal) -> int | None:
        """Smallest valid (limit) size mantissa whose value at ``price`` meets minTradeUSDT."""
        lo, hi, _ = self._size_bounds(False)
        # size_units >= minTradeUSDT * 10**volumePlace / price, in exact integers
        mn, md = self.min_trade_usdt.as_integer_ratio()
        pn, pd = price.as_integer_ratio()
        units = -(-(mn * pd * _POW10[self.volume_place]) // (md * pn))
        lot = self._lot
        units = max(-(-units // lot) * lot, lo)
        return units if units <= hi else None

    # -------------------------------------------------------------------------- parsing
    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Contract:
        """One contracts row -> Contract; a ProtocolError names a missing or malformed field."""
        if not isinstance(row, Mapping):
            raise ProtocolError(f"contracts: a row must be a JSON object, not "
                                f"{type(row).__name__}: {row!r:.200}")
        symbol = row.get("symbol")
        if not isinstance(symbol, str) or not symbol:
            raise ProtocolError(f"contracts row: field 'symbol' is missing or not a non-empty "
                                f"string: {row!r:.200}")
        f = _RowReader(symbol, row)
        try:
            return cls(
                symbol=symbol,
                base_coin=f.text("baseCoin"),
                quote_coin=f.text("quoteCoin"),
                price_place=f.integer("pricePlace", 0, MAX_DIGITS),
                price_end_step=f.integer("priceEndStep", 1, _LIMIT - 1),
                volume_place=f.integer("volumePlace", 0, MAX_DIGITS),
                size_multiplier=f.dec("sizeMultiplier", positive=True),
                min_trade_num=f.dec("minTradeNum"),
                min_trade_usdt=f.dec("minTradeUSDT"),
                max_order_qty=f.dec("maxOrderQty", optional=True),
                max_market_order_qty=f.dec("maxMarketOrderQty", optional=True),
                maker_fee_rate=f.dec("makerFeeRate", signed=True),
                taker_fee_rate=f.dec("takerFeeRate", signed=True),
                symbol_status=f.text("symbolStatus"),
                symbol_type=f.text("symbolType"),
                min_lever=f.integer("minLever", 0, 1 << 31),
                max_lever=f.integer("maxLever", 0, 1 << 31),
                buy_limit_price_ratio=f.dec("buyLimitPriceRatio", optional=True),
                sell_limit_price_ratio=f.dec("sellLimitPriceRatio", optional=True),
                delivery_period=f.text("deliveryPeriod", optional=True),
            )
        except ConfigurationError as e:       # fields that are fine alone but not together
            raise ProtocolError(f"contracts row {symbol}: {e}") from None


def _mantissa(value: object, places: int) -> int | None:
    """Exact positive mantissa of a plain str/Decimal/int at ``places``, or None (slow path then).

    Handles digits with an optional point and at most ``places`` decimals, a Decimal that prints
    that way, and ints; anything else (exponents, signs, junk, floats) is left to the slow path.
    """
    if type(value) is Decimal:
        value = str(value)          # exact; exponent forms, signs and NaN fail the test below
    if type(value) is str:
        whole, _, frac = value.partition(".")
        nf = len(frac)
        digits = whole + frac
        if nf <= places and digits.isdigit() and digits.isascii() and whole \
                and len(whole) + places <= MAX_DIGITS:
            return int(digits) * _POW10[places - nf] or None
        return None
    if type(value) is int and value > 0:
        m = value * _POW10[places]
        return m if m < _LIMIT else None
    return None


def _exact_mul(a: Decimal, b: Decimal) -> Decimal:
    """``a * b`` exactly, whatever the caller's decimal context."""
    digits = len(a.as_tuple().digits) + len(b.as_tuple().digits)
    return Context(prec=digits, Emax=MAX_EMAX, Emin=MIN_EMIN).multiply(a, b)


def _derive(c: Contract) -> dict[str, Any]:
    """Check a Contract's values and compute the integers its hot path uses."""
    for name in ("symbol", "base_coin", "quote_coin", "symbol_status", "symbol_type",
                 "delivery_period"):
        if not isinstance(getattr(c, name), str):
            raise ConfigurationError(f"{name} must be a str, not {getattr(c, name)!r}")
    if not c.symbol:
        raise ConfigurationError("symbol must not be empty")
    for name in ("min_lever", "max_lever"):
        if type(getattr(c, name)) is not int:
            raise ConfigurationError(f"{name} must be an int, not {getattr(c, name)!r}")
    for name in ("price_place", "volume_place"):
        v = getattr(c, name)
        if type(v) is not int or not 0 <= v <= MAX_DIGITS:
            raise ConfigurationError(f"{name} must be an int from 0 to {MAX_DIGITS}, not {v!r}")
    if type(c.price_end_step) is not int or not 1 <= c.price_end_step < _LIMIT:
        raise ConfigurationError(f"price_end_step (priceEndStep) must be a positive int, "
                                 f"not {c.price_end_step!r}")
    for name in ("size_multiplier", "min_trade_num", "min_trade_usdt", "max_order_qty",
                 "max_market_order_qty", "maker_fee_rate", "taker_fee_rate",
                 "buy_limit_price_ratio", "sell_limit_price_ratio"):
        v = getattr(c, name)
        if v is None and name in _OPTIONAL:
            continue
        if not isinstance(v, Decimal) or not v.is_finite():
            raise ConfigurationError(f"{name} must be a finite Decimal, not {v!r}")
    pp, vp = c.price_place, c.volume_place
    if c.size_multiplier <= 0:
        raise ConfigurationError(f"size_multiplier (sizeMultiplier) must be positive, "
                                 f"not {c.size_multiplier}")
    lot = _split(c.size_multiplier, vp)
    if lot is None or lot[1] or not lot[0]:
        raise ConfigurationError(
            f"sizeMultiplier {_plain(c.size_multiplier)} is not a whole number of units at "
            f"volumePlace {vp}, so no size could be both")
    for name in ("min_trade_num", "min_trade_usdt"):
        if getattr(c, name) < 0:
            raise ConfigurationError(f"{name} must not be negative, not {getattr(c, name)}")
    if c.min_trade_usdt and not -40 <= c.min_trade_usdt.adjusted() <= 40:
        # kept in exact integers below: refuse absurd magnitudes rather than build huge ones
        raise ConfigurationError(f"min_trade_usdt (minTradeUSDT) {c.min_trade_usdt} is out of "
                                 f"range")

    def floor_units(q: Decimal | None) -> int:
        if q is None:
            return _LIMIT - 1
        if q < 0:
            raise ConfigurationError(f"a maximum order quantity must not be negative, not {q}")
        if q == 0:
            return 0
        parts = _split(q, vp)
        return _LIMIT - 1 if parts is None else parts[0]

    min_units = 1
    if c.min_trade_num > 0:
        parts = _split(c.min_trade_num, vp)
        if parts is None:
            min_units = _LIMIT
        else:
            min_units = max(1, parts[0] + (1 if parts[1] else 0))
    mn, md = c.min_trade_usdt.as_integer_ratio()
    scaled = mn * _POW10[pp + vp]
    tick = Decimal((0, tuple(int(ch) for ch in str(c.price_end_step)), -pp))
    return {
        "_tick": tick,
        "_lot": lot[0],
        "_min_units": min_units,
        "_max_units": floor_units(c.max_order_qty),
        "_max_market_units": floor_units(c.max_market_order_qty),
        "_min_notional_units": -(-scaled // md),
    }


_OPTIONAL = frozenset(("max_order_qty", "max_market_order_qty", "buy_limit_price_ratio",
                       "sell_limit_price_ratio"))


class _RowReader:
    """Reads one contracts row's fields; each problem is a ProtocolError naming the field."""

    __slots__ = ("symbol", "row")

    def __init__(self, symbol: str, row: Mapping[str, Any]) -> None:
        self.symbol = symbol
        self.row = row

    def _bad(self, key: str, why: str) -> ProtocolError:
        return ProtocolError(f"contracts row {self.symbol}: field {key!r} {why}: "
                             f"{self.row.get(key)!r:.80}")

    def _missing(self, key: str) -> ProtocolError:
        return ProtocolError(f"contracts row {self.symbol}: required field {key!r} is missing "
                             f"or empty")

    def text(self, key: str, *, optional: bool = False) -> str:
        v = self.row.get(key)
        if v is None or v == "":
            if optional:
                return ""
            raise self._missing(key)
        if not isinstance(v, str):
            raise self._bad(key, "is not a string")
        return v

    def integer(self, key: str, lo: int, hi: int) -> int:
        v = self.row.get(key)
        if v is None or v == "":
            raise self._missing(key)
        if isinstance(v, bool):
            raise self._bad(key, "is not an integer")
        if isinstance(v, str):
            if not (v.isascii() and v.isdigit() and len(v) <= 20):
                raise self._bad(key, "is not a non-negative integer")
            n = int(v)
        elif isinstance(v, int):
            n = v
        elif isinstance(v, float) and v.is_integer():
            n = int(v)
        else:
            raise self._bad(key, "is not an integer")
        if not lo <= n <= hi:
            raise self._bad(key, f"is outside {lo}..{hi}")
        return n

    def dec(self, key: str, *, optional: bool = False, positive: bool = False,
            signed: bool = False) -> Decimal | None:
        v = self.row.get(key)
        if v is None or v == "":
            if optional:
                return None
            raise self._missing(key)
        if isinstance(v, bool):
            raise self._bad(key, "is not a number")
        if isinstance(v, str):
            if not _LITERAL.fullmatch(v):
                raise self._bad(key, "is not a decimal number")
            try:
                d = Decimal(v)
            except InvalidOperation:
                raise self._bad(key, "is out of range") from None
        elif isinstance(v, int):
            d = Decimal(v)
        elif isinstance(v, float):
            d = Decimal(repr(v))      # a JSON number: the shortest repr is the text Bitget sent
        else:
            raise self._bad(key, "is not a number")
        if not d.is_finite():
            raise self._bad(key, "is not finite")
        if positive and d <= 0:
            raise self._bad(key, "must be positive")
        if not signed and d < 0:
            raise self._bad(key, "must not be negative")
        return d


class TradingRules(Mapping[str, Contract]):
    """USDT-M perpetuals by symbol; other rows kept in :attr:`others`, bad ones in :attr:`rejected`.

    ``rules[symbol]`` raises :class:`UnknownSymbolError` (a ValidationError and a KeyError, so
    ``in``, ``get`` and ``KeyError`` handlers work) whose message says why the symbol is not
    there: unknown (with a close match when there is one), a delivery or non-USDT contract, or
    a row that could not be read.
    """

    __slots__ = ("_perpetuals", "others", "rejected")

    def __init__(self, contracts: Iterable[Contract] = (), *,
                 rejected: Mapping[str, str] | None = None) -> None:
        self._perpetuals: dict[str, Contract] = {}
        self.others: dict[str, Contract] = {}
        """Rows kept but not traded here: delivery contracts, non-USDT quotes (by symbol)."""
        self.rejected: dict[str, str] = dict(rejected or {})
        """Symbols whose row could not be used -> why (a malformed field, a duplicate)."""
        for c in contracts:
            if not isinstance(c, Contract):
                raise TypeError(f"TradingRules holds Contract objects, not {type(c).__name__}")
            if c.symbol in self._perpetuals or c.symbol in self.others:
                self._perpetuals.pop(c.symbol, None)
                self.others.pop(c.symbol, None)
                self.rejected[c.symbol] = "the contracts response lists it more than once"
            elif c.symbol in self.rejected:
                continue
            elif c.usdt_perpetual:
                self._perpetuals[c.symbol] = c
            else:
                self.others[c.symbol] = c

    @classmethod
    def from_response(cls, data: list[Any]) -> TradingRules:
        """The envelope's ``data`` list -> TradingRules; ProtocolError if not a list of rows."""
        if not isinstance(data, list):
            hint = (" (pass the envelope's 'data', not the whole envelope)"
                    if isinstance(data, Mapping) and "data" in data else "")
            raise ProtocolError(f"contracts: 'data' must be a list of rows, not "
                                f"{type(data).__name__}{hint}")
        contracts: list[Contract] = []
        rejected: dict[str, str] = {}
        for i, row in enumerate(data):
            # A row that is not an object, or has no symbol, is not Bitget's format at all: the
            # whole response is refused. A bad field only costs that symbol (see rejected).
            if not isinstance(row, Mapping):
                raise ProtocolError(f"contracts: row {i} is not a JSON object but "
                                    f"{type(row).__name__}: {row!r:.200}")
            symbol = row.get("symbol")
            if not isinstance(symbol, str) or not symbol:
                raise ProtocolError(f"contracts: row {i} has no symbol (field 'symbol' is "
                                    f"missing or not a non-empty string): {row!r:.200}")
            try:
                contracts.append(Contract.from_row(row))
            except ProtocolError as e:
                rejected[symbol] = str(e)
        if data and not contracts:
            raise ProtocolError(f"contracts: no row could be read; the first problem: "
                                f"{next(iter(rejected.values()))}")
        return cls(contracts, rejected=rejected)

    def __getitem__(self, symbol: str) -> Contract:
        """The rules of ``symbol``; UnknownSymbolError (saying why) if not a USDT-M perpetual."""
        try:
            return self._perpetuals[symbol]
        except (KeyError, TypeError):
            raise self._unknown(symbol) from None

    def _unknown(self, symbol: object) -> UnknownSymbolError:
        name = symbol if isinstance(symbol, str) else repr(symbol)
        if isinstance(symbol, str) and symbol in self.others:
            c = self.others[symbol]
            what = f"symbolType {c.symbol_type}"
            if c.delivery_period:
                what += f", deliveryPeriod {c.delivery_period}"
            if c.quote_coin != "USDT":
                what += f", quoteCoin {c.quote_coin}"
            return UnknownSymbolError(f"{name}: not a USDT-M perpetual ({what}); bitget_fast "
                                      f"trades USDT-M perpetuals only")
        if isinstance(symbol, str) and symbol in self.rejected:
            return UnknownSymbolError(f"{name}: its trading rules are unknown because its "
                                      f"contracts row could not be used: {self.rejected[symbol]}")
        hint = ""
        if isinstance(symbol, str):
            # V2 symbols are upper case without V1's "_UMCBL" suffix; else a near spelling
            v2 = symbol.upper().partition("_")[0]
            close = ([v2] if v2 in self._perpetuals else
                     difflib.get_close_matches(v2, list(self._perpetuals), n=3, cutoff=0.85))
            if close:
                hint = f"; did you mean {' or '.join(close)}?"
        return UnknownSymbolError(f"{name}: not a known USDT-M perpetual (the contracts "
                                  f"response lists {len(self._perpetuals)}){hint}")

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._perpetuals

    def __iter__(self) -> Iterator[str]:
        return iter(self._perpetuals)

    def __len__(self) -> int:
        return len(self._perpetuals)

    def __repr__(self) -> str:
        return (f"TradingRules({len(self._perpetuals)} USDT-M perpetuals, {len(self.others)} "
                f"other, {len(self.rejected)} rejected)")
