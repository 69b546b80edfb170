"""Bitget's documented REST limits: one table for the client's limiter and the simulator.

Protocol reference section 5: limits are per endpoint, per second, counted per IP for
public market data and per UID for signed calls, plus 6,000 requests per IP per minute.
Bottom layer (like ``errors.py``): data only, no imports from the rest of the package.
"""

from __future__ import annotations

__all__ = ["REST_RATE_LIMITS", "GLOBAL_LIMIT_PER_MIN", "ORDER_PATHS", "RISK_REDUCING_PATHS",
           "V2_MIX"]

V2_MIX = "/api/v2/mix/"
"""Path prefix of the V2 futures endpoints."""

# path -> (requests per second, counted per "ip" or per "uid")
REST_RATE_LIMITS: dict[str, tuple[int, str]] = {
    "/api/v2/public/time": (20, "ip"),
    V2_MIX + "market/contracts": (20, "ip"), V2_MIX + "market/merge-depth": (20, "ip"),
    V2_MIX + "market/ticker": (20, "ip"), V2_MIX + "market/tickers": (20, "ip"),
    V2_MIX + "market/current-fund-rate": (20, "ip"), V2_MIX + "market/open-interest": (20, "ip"),
    V2_MIX + "market/candles": (20, "ip"), V2_MIX + "market/history-candles": (20, "ip"),
    V2_MIX + "market/history-mark-candles": (20, "ip"),
    V2_MIX + "market/history-index-candles": (20, "ip"),
    V2_MIX + "market/fills": (20, "ip"), V2_MIX + "market/fills-history": (10, "ip"),
    V2_MIX + "market/symbol-price": (20, "ip"),
    V2_MIX + "market/funding-time": (20, "ip"), V2_MIX + "market/history-fund-rate": (20, "ip"),
    V2_MIX + "order/place-order": (10, "uid"), V2_MIX + "order/batch-place-order": (5, "uid"),
    V2_MIX + "order/cancel-order": (10, "uid"), V2_MIX + "order/batch-cancel-orders": (10, "uid"),
    V2_MIX + "order/cancel-all-orders": (10, "uid"), V2_MIX + "order/modify-order": (10, "uid"),
    V2_MIX + "order/close-positions": (1, "uid"),
    V2_MIX + "order/detail": (10, "uid"), V2_MIX + "order/orders-pending": (10, "uid"),
    V2_MIX + "order/orders-history": (10, "uid"), V2_MIX + "order/fills": (10, "uid"),
    V2_MIX + "position/all-position": (5, "uid"), V2_MIX + "position/single-position": (10, "uid"),
    V2_MIX + "account/account": (10, "uid"), V2_MIX + "account/accounts": (10, "uid"),
    V2_MIX + "account/bill": (10, "uid"), V2_MIX + "account/set-leverage": (5, "uid"),
    V2_MIX + "account/set-margin-mode": (5, "uid"), V2_MIX + "account/set-position-mode": (5, "uid"),
}
"""Path -> (requests per second, counted per ``ip`` or ``uid``), as Bitget documents them."""
GLOBAL_LIMIT_PER_MIN = 6000
"""Requests per minute per IP over all REST endpoints."""

# Order-changing paths: a lost reply leaves the outcome unknown; never retried blindly.
ORDER_PATHS = frozenset(V2_MIX + p for p in (
    "order/place-order", "order/batch-place-order", "order/cancel-order",
    "order/batch-cancel-orders", "order/cancel-all-orders", "order/modify-order",
    "order/close-positions"))
"""Order-changing paths: a lost reply leaves the outcome unknown, so they are never retried blindly."""
# Order paths that only take risk off: over the client-side limit they wait for their slot,
# however long, instead of being refused (``max_rate_wait_s`` is for orders that add risk).
RISK_REDUCING_PATHS = frozenset(V2_MIX + p for p in (
    "order/cancel-order", "order/batch-cancel-orders", "order/cancel-all-orders",
    "order/close-positions"))
"""Order paths that only take risk off: over the client-side limit they wait for a slot instead of being refused."""
