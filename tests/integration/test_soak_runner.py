"""The fault-injection soak (``bitget-fast soak``, bitget_fast.sim.soak).

The CI soak runs the installed command for ``BITGET_FAST_SOAK_SECONDS`` (default 120) and
requires every invariant to hold: nothing lost, books equal after every resync, state equal
at every checkpoint, no secret in any log record, bounded memory. A second, short run
sabotages the checks' inputs (a fill the callbacks never deliver, a secret logged, a memory
limit below zero) and must report each one: the soak can fail.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bitget_fast.sim import soak as soak_mod
from bitget_fast.sim.soak import FAULTS, SoakConfig, run_soak

from .conftest import run_async

SECONDS = float(os.environ.get("BITGET_FAST_SOAK_SECONDS", "120"))
BIN = Path(sys.executable).with_name("bitget-fast")


@pytest.mark.slow
@pytest.mark.timeout(SECONDS * 3 + 180)
def test_soak_with_every_fault_loses_nothing():
    out = subprocess.run([str(BIN), "soak", "--duration", str(SECONDS), "--json"], cwd="/",
                         capture_output=True, text=True, timeout=SECONDS * 3 + 120)
    assert out.stdout.strip(), out.stderr[-3000:]
    r = json.loads(out.stdout)
    print("\nsoak:", json.dumps(r, indent=1))
    assert out.returncode == 0 and r["ok"], (r["violations"], out.stderr[-3000:])
    assert r["lost_fills"] == 0 and r["lost_orders"] == 0 and r["secret_leaks"] == 0
    assert r["faults_injected"] >= SECONDS / 3 * 0.5, r["faults"]
    if SECONDS >= 60:   # one round of faults takes ~45 s: every kind was injected
        assert set(r["faults"]) == set(FAULTS), set(FAULTS) - set(r["faults"])
        assert r["resyncs"] and r["integrity_errors"] and r["reconnects"] and r["reconciles"]
    assert r["orders"] > 10 and r["fills"] > 0 and r["checkpoints"] >= (2 if SECONDS >= 45 else 1)
    assert r["book_checks"] >= r["checkpoints"] * 2
    assert r["log_records"] > 0


@run_async(120)
async def test_the_soak_reports_a_lost_fill_a_leaked_secret_and_memory_growth(monkeypatch):
    real_on_fill, real_inject = soak_mod._Soak.on_fill, soak_mod._Soak.inject
    dropped: list[str] = []

    def on_fill(self, f):
        if not dropped:           # the first fill never reaches the strategy
            dropped.append(f.trade_id)
            return
        real_on_fill(self, f)

    async def inject(self):
        logging.getLogger("bitget_fast.sabotage").debug("signing with %s", self.secret)
        await real_inject(self)

    monkeypatch.setattr(soak_mod._Soak, "on_fill", on_fill)
    monkeypatch.setattr(soak_mod._Soak, "inject", inject)
    cfg = SoakConfig(duration_s=10, fault_every_s=2, check_every_s=100, max_rss_growth_mb=-1,
                     faults=("skip_seq", "drop_private", "rest_429"), converge_timeout_s=5)
    r = await run_soak(cfg)
    text = "\n".join(r.violations)
    assert not r.ok and dropped, r.to_dict()
    assert f"'{dropped[0]}'" in text and "fills differ: 1 missing" in text, text
    assert r.lost_fills == 1 and r.secret_leaks >= 1, r.to_dict()
    assert "a log record holds a secret: bitget_fast.sabotage DEBUG" in text, text
    assert "resident memory grew" in text, text
    # the leak report names where, never the secret itself
    assert not any(n in text for n in (r.config.symbols[0] + "x",)) and "signing with" not in text


def test_bad_settings_are_refused():
    for kw, msg in ((dict(duration_s=0), "duration_s"), (dict(faults=("nope",)), "unknown faults"),
                    (dict(symbols=()), "symbols"), (dict(order_transport="fix"), "order_transport")):
        with pytest.raises(ValueError, match=msg):
            SoakConfig(**kw).check()
    out = subprocess.run([str(BIN), "soak", "--faults", "restart,nope"], cwd="/",
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "unknown faults ['nope']" in out.stderr
