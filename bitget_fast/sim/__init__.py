"""The local Bitget V2 exchange simulator and the plain-Python reference it is built on.

Only ``cli.py`` and paper trading import this package; the live client path never does.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Simulator", "ReplayServer"]


def __getattr__(name: str) -> Any:
    # Lazy: importing bitget_fast.sim.reference (the benchmarks' baseline) does not start
    # loading the whole server.
    if name == "Simulator":
        from .server import Simulator
        return Simulator
    if name == "ReplayServer":
        from .replay import ReplayServer
        return ReplayServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
