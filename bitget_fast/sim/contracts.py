"""Contract specifications of the simulated exchange, and exact decimal <-> integer helpers.

Prices and sizes inside the simulator are integers in units of the contract's last
decimal (``10**-pricePlace``, ``10**-volumePlace``), exactly like the client's book;
money (balances, fees, PnL) is :class:`decimal.Decimal`, exact, rounded only when shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Context, Decimal

__all__ = ["ContractSpec", "DEFAULT_CONTRACTS", "contract_for", "parse_units", "fmt_units",
           "money", "fixed", "WIDE", "PRODUCT_TYPE", "MARGIN_COIN"]

PRODUCT_TYPE = "USDT-FUTURES"
"""The simulator's only productType."""
MARGIN_COIN = "USDT"
"""The simulator's only margin coin."""
_EIGHT = Decimal("1e-8")
# Rounding for display. The default context (28 digits) raises InvalidOperation when quantize
# needs more digits (e.g. 1e16 at 12 places), and an order's price can make any amount that big.
WIDE = Context(prec=120)
"""A 120-digit decimal context for rounding amounts of any size."""


def parse_units(text: str, places: int) -> int | None:
    """'123.45' at 3 places -> 123450; None when not a plain non-negative decimal or too many decimals."""
    if not isinstance(text, str) or not text or len(text) > 40:
        return None
    whole, dot, frac = text.partition(".")
    if not whole.isdigit() or not whole.isascii():
        return None
    if dot:
        if not frac or not frac.isdigit() or not frac.isascii():
            return None
        frac = frac.rstrip("0")
        if len(frac) > places:
            return None
    return int(whole) * 10 ** places + (int(frac.ljust(places, "0")) if frac else 0)


def fmt_units(n: int, places: int) -> str:
    """123450 at 3 places -> '123.450' (always exactly ``places`` decimals, as Bitget prints them)."""
    if places == 0:
        return str(n)
    if n < 0:
        return "-" + fmt_units(-n, places)
    s = str(n)     # slicing the digits: twice as fast as divmod + format, on the feed's hot path
    if len(s) <= places:
        s = "0" * (places + 1 - len(s)) + s
    return s[:-places] + "." + s[-places:]


def fixed(d: Decimal, exp: Decimal) -> Decimal:
    """``d`` rounded to the exponent of ``exp`` (whatever its magnitude)."""
    return d.quantize(exp, context=WIDE)


def money(d: Decimal) -> str:
    """A money amount as Bitget shows balances: 8 decimals, no exponent."""
    return format(fixed(d, _EIGHT), "f")


@dataclass(frozen=True)
class ContractSpec:
    """One USDT-M perpetual as ``/api/v2/mix/market/contracts`` describes it."""

    symbol: str
    base_coin: str
    price_place: int
    price_end_step: int
    volume_place: int
    size_multiplier: str
    min_trade_num: str
    start_price: str
    min_trade_usdt: str = "5"
    maker_fee_rate: str = "0.0002"
    taker_fee_rate: str = "0.0006"
    min_lever: int = 1
    max_lever: int = 125
    fund_interval_h: int = 8
    max_order_qty: str = "1000000"
    max_market_order_qty: str = "100000"
    keep_margin_rate: str = "0.004"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def tick(self) -> int:
        """Price step in price units (priceEndStep)."""
        return self.price_end_step

    @property
    def lot(self) -> int:
        """Size step in size units (sizeMultiplier)."""
        lot = parse_units(self.size_multiplier, self.volume_place)
        assert lot, self.size_multiplier
        return lot

    def price_str(self, units: int) -> str:
        """Price units -> Bitget string."""
        return fmt_units(units, self.price_place)

    def size_str(self, units: int) -> str:
        """Size units -> Bitget string."""
        return fmt_units(units, self.volume_place)

    def notional(self, price_units: int, size_units: int) -> Decimal:
        """price x size in USDT, exact."""
        return Decimal(price_units * size_units).scaleb(-(self.price_place + self.volume_place))

    def price_dec(self, units: int) -> Decimal:
        """Price units -> Decimal."""
        return Decimal(units).scaleb(-self.price_place)

    def size_dec(self, units: int) -> Decimal:
        """Size units -> Decimal."""
        return Decimal(units).scaleb(-self.volume_place)

    @classmethod
    def from_rest(cls, row: object, start_price: str) -> "ContractSpec":
        """The spec of one ``/api/v2/mix/market/contracts`` row (Bitget's own, for paper
        trading), opening at ``start_price``; ValueError naming the field that does not fit.

        Every string field the simulator does not model (``symbolStatus``, the price-band
        ratios, ...) is kept in :attr:`extra`, so the simulator's contracts endpoint shows
        the row as Bitget sent it.
        """
        if not isinstance(row, dict):
            raise ValueError(f"a contracts row must be an object, not {type(row).__name__}")
        symbol = row.get("symbol")
        if not isinstance(symbol, str) or not symbol.isalnum():
            raise ValueError(f"contracts row: bad symbol {symbol!r}")

        def text(name: str, default: str | None = None) -> str:
            v = row.get(name, default)
            if v is None or v == "":
                if default is None:
                    raise ValueError(f"contracts row {symbol}: {name} is missing")
                return default
            if not isinstance(v, (str, int)) or isinstance(v, bool):
                raise ValueError(f"contracts row {symbol}: {name} must be a string, not {v!r}")
            return str(v)

        def small_int(name: str, lo: int, hi: int, default: str | None = None) -> int:
            v = text(name, default)
            if not v.isdigit() or not v.isascii() or not lo <= int(v) <= hi:
                raise ValueError(f"contracts row {symbol}: {name} must be an integer in "
                                 f"[{lo}, {hi}], not {v!r}")
            return int(v)

        def amount(name: str, places: int, default: str | None = None) -> str:
            v = text(name, default)
            if parse_units(v, places) is None:
                raise ValueError(f"contracts row {symbol}: {name} must be a plain decimal with "
                                 f"at most {places} decimals, not {v!r}")
            return v

        price_place = small_int("pricePlace", 0, 18)
        volume_place = small_int("volumePlace", 0, 18)
        step = small_int("priceEndStep", 1, 10**9)
        size_multiplier = amount("sizeMultiplier", volume_place)
        if not parse_units(size_multiplier, volume_place):
            raise ValueError(f"contracts row {symbol}: sizeMultiplier must be > 0")
        start = parse_units(start_price, price_place)
        if not start or start % step:
            raise ValueError(f"{symbol}: start price {start_price!r} is not a positive "
                             f"multiple of the tick ({step} at {price_place} decimals)")
        min_lever = small_int("minLever", 1, 10_000, "1")
        max_lever = small_int("maxLever", min_lever, 10_000, "125")
        modelled = {"symbol", "baseCoin", "pricePlace", "priceEndStep", "volumePlace",
                    "sizeMultiplier", "minTradeNum", "minTradeUSDT", "makerFeeRate",
                    "takerFeeRate", "minLever", "maxLever", "fundInterval", "maxOrderQty",
                    "maxMarketOrderQty"}
        extra = {k: v for k, v in row.items()
                 if k not in modelled and isinstance(k, str) and isinstance(v, str)}
        return cls(
            symbol=symbol, base_coin=text("baseCoin", symbol[:-4] or symbol),
            price_place=price_place, price_end_step=step, volume_place=volume_place,
            size_multiplier=size_multiplier,
            min_trade_num=amount("minTradeNum", volume_place),
            start_price=start_price,
            min_trade_usdt=amount("minTradeUSDT", 18, "5"),
            maker_fee_rate=amount("makerFeeRate", 18, "0.0002"),
            taker_fee_rate=amount("takerFeeRate", 18, "0.0006"),
            min_lever=min_lever, max_lever=max_lever,
            fund_interval_h=small_int("fundInterval", 1, 24 * 7, "8"),
            max_order_qty=amount("maxOrderQty", volume_place, "1000000"),
            max_market_order_qty=amount("maxMarketOrderQty", volume_place, "100000"),
            extra=extra)

    def as_rest(self) -> dict[str, object]:
        """The contracts endpoint row."""
        return {
            "symbol": self.symbol, "baseCoin": self.base_coin, "quoteCoin": "USDT",
            "buyLimitPriceRatio": "0.05", "sellLimitPriceRatio": "0.05", "feeRateUpRatio": "0.005",
            "makerFeeRate": self.maker_fee_rate, "takerFeeRate": self.taker_fee_rate,
            "openCostUpRatio": "0.01", "supportMarginCoins": ["USDT"],
            "minTradeNum": self.min_trade_num, "priceEndStep": str(self.price_end_step),
            "volumePlace": str(self.volume_place), "pricePlace": str(self.price_place),
            "sizeMultiplier": self.size_multiplier, "symbolType": "perpetual",
            "minTradeUSDT": self.min_trade_usdt, "maxSymbolOrderNum": "200",
            "maxProductOrderNum": "400", "maxPositionNum": "150", "symbolStatus": "normal",
            "offTime": "-1", "limitOpenTime": "-1", "deliveryTime": "", "deliveryStartTime": "",
            "deliveryPeriod": "", "launchTime": "", "fundInterval": str(self.fund_interval_h),
            "minLever": str(self.min_lever), "maxLever": str(self.max_lever), "posLimit": "0.05",
            "maintainTime": "", "maxMarketOrderQty": self.max_market_order_qty,
            "maxOrderQty": self.max_order_qty, "isRwa": "NO", **self.extra,
        }


DEFAULT_CONTRACTS: dict[str, ContractSpec] = {c.symbol: c for c in [
    ContractSpec("BTCUSDT", "BTC", 1, 1, 4, "0.0001", "0.0001", "60000.0"),
    ContractSpec("ETHUSDT", "ETH", 2, 1, 2, "0.01", "0.01", "3000.00"),
    # priceEndStep 5: prices are multiples of 0.005, the case hummingbot gets wrong.
    ContractSpec("SOLUSDT", "SOL", 3, 5, 1, "0.1", "0.1", "150.000", max_lever=100),
    ContractSpec("XRPUSDT", "XRP", 4, 1, 0, "1", "1", "0.5000", max_lever=100),
]}
"""The simulator's built-in contracts (BTC, ETH, SOL with a 0.005 tick, XRP)."""


def contract_for(symbol: str) -> ContractSpec:
    """The default contract of ``symbol``; other USDT-M symbols (``...USDT``) get a generic 4-decimal spec."""
    symbol = symbol.upper()
    if symbol in DEFAULT_CONTRACTS:
        return DEFAULT_CONTRACTS[symbol]
    if not symbol.endswith("USDT") or len(symbol) < 5 or not symbol.isalnum():
        raise ValueError(f"simulator symbols are USDT-M perpetuals like 'BTCUSDT', not {symbol!r}")
    return ContractSpec(symbol, symbol[:-4], 4, 1, 1, "0.1", "0.1", "10.0000", max_lever=50)
