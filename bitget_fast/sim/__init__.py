"""The local Bitget V2 exchange simulator and the plain-Python reference it is built on.

Only ``cli.py`` and paper trading import this package; the live client path never does.
``Simulator`` needs the ``sim`` extra (httptools): ``pip install "bitget-fast[sim]"``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Simulator"]


def __getattr__(name: str) -> Any:
    # Lazy: bitget_fast.sim.reference must stay importable without httptools.
    if name == "Simulator":
        try:
            from .server import Simulator
        except ImportError as e:
            if getattr(e, "name", None) == "httptools":
                raise ImportError("bitget_fast.sim.Simulator needs httptools: "
                                  'pip install "bitget-fast[sim]"') from e
            raise
        return Simulator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
