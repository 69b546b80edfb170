"""``bitget-fast soak``: the fault-injection soak of :mod:`bitget_fast.sim.soak`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any, TextIO

from bitget_fast._term import Screen


def add_options(p: argparse.ArgumentParser) -> None:
    """The ``soak`` command's arguments."""
    p.add_argument("--duration", type=float, default=120.0, metavar="S",
                   help="seconds of quoting under faults (default 120)")
    p.add_argument("--symbols", default="BTCUSDT,ETHUSDT", help="comma-separated (default BTCUSDT,ETHUSDT)")
    p.add_argument("--seed", type=int, default=1, help="seed of the market and the fault draws (default 1)")
    p.add_argument("--fault-every", type=float, default=3.0, metavar="S",
                   help="mean seconds between faults, jittered +-50%% (default 3)")
    p.add_argument("--faults", default=None,
                   help="comma-separated names (default all): drop_public, drop_private, "
                   "drop_rest, stall_public, stall_private, corrupt_checksum, skip_seq, "
                   "skip_seq_deep, malformed, oversized, rest_429, rest_5xx, lost_reply, delay_acks, "
                   "events_first, restart")
    p.add_argument("--check-every", type=float, default=30.0, metavar="S",
                   help="seconds between full-state checkpoints (default 30; one more at the end)")
    p.add_argument("--max-rss-growth-mb", type=float, default=64.0, metavar="MB",
                   help="resident memory growth allowed after warm-up (default 64)")
    p.add_argument("--transport", choices=("rest", "ws"), default="rest",
                   help="order transport (default rest)")
    p.add_argument("--json", action="store_true", help="no live view; print the report as JSON")


def _lines(r: Any) -> list[str]:
    d = r.to_dict()
    return [
        f"soak  {d['elapsed_s']:6.1f} s of {d['duration_s']:g}  seed {d['seed']}  "
        f"{'ok' if r.ok else 'VIOLATIONS: ' + str(len(r.violations))}",
        f"  faults {d['faults_injected']:5d}  resyncs {d['resyncs']:4d}  reconnects "
        f"{d['reconnects']:4d}  reconciles {d['reconciles']:4d}  rejected frames {d['rejected_frames']}",
        f"  orders {d['orders']:5d}  fills {d['fills']:5d}  checkpoints {d['checkpoints']:3d}  "
        f"book checks {d['book_checks']:4d}  RSS {d['rss_mb']['end']:.1f} MB",
    ]


def print_report(d: dict[str, Any], out: TextIO) -> None:
    """The human-readable end of ``bitget-fast soak``."""
    print(f"soak {'passed' if d['ok'] else 'FAILED'}: {d['elapsed_s']:g} s, seed {d['seed']}, "
          f"{', '.join(d['symbols'])} ({d['order_transport']} orders)", file=out)
    print(f"  faults injected   {d['faults_injected']}: " +
          ", ".join(f"{k} {v}" for k, v in d["faults"].items()), file=out)
    print(f"  books             {d['resyncs']} resyncs, {d['integrity_errors']} integrity errors, "
          f"{d['rejected_frames']} rejected frames, {d['book_checks']} equality checks", file=out)
    print(f"  connections       {d['reconnects']} reconnects, {d['reconciles']} reconciles", file=out)
    print(f"  orders            {d['orders']} placed: " +
          ", ".join(f"{k} {v}" for k, v in d["orders_by_status"].items()), file=out)
    print(f"  fills             {d['fills']} ({d['fill_volume']} volume); lost fills "
          f"{d['lost_fills']}, lost orders {d['lost_orders']}", file=out)
    print(f"  logs              {d['log_records']} records checked, {d['secret_leaks']} with a secret",
          file=out)
    rss = d["rss_mb"]
    print(f"  memory            RSS {rss['start']} MB at start, {rss['after_warmup']} after warm-up, "
          f"{rss['last_quarter']} in the last quarter (lowest samples); max {rss['max']}, "
          f"end {rss['end']}", file=out)
    print(f"  checkpoints       {d['checkpoints']}", file=out)
    for v in d["violations"]:
        print(f"  VIOLATION  {v}", file=out)


def run_soak_cli(args: argparse.Namespace) -> int:
    """Run ``bitget-fast soak``; exit status 0 passed, 3 an invariant failed, 2 bad arguments."""
    from bitget_fast.sim.soak import FAULTS, SoakConfig, run_soak

    faults = args.faults or ",".join(FAULTS)
    cfg = SoakConfig(duration_s=args.duration,
                     symbols=tuple(s.strip().upper() for s in args.symbols.split(",") if s.strip()),
                     seed=args.seed, fault_every_s=args.fault_every,
                     faults=tuple(f.strip() for f in faults.split(",") if f.strip()),
                     check_every_s=args.check_every, max_rss_growth_mb=args.max_rss_growth_mb,
                     order_transport=args.transport)
    try:
        cfg.check()
    except ValueError as e:
        print(f"bitget-fast soak: {e}", file=sys.stderr)
        return 2
    screen = Screen(sys.stdout, sys.stdout.isatty() and not args.json, every_s=10.0)
    progress = None if args.json else (lambda r: screen.draw(_lines(r)))
    try:
        report = asyncio.run(run_soak(cfg, progress=progress))
    except KeyboardInterrupt:
        print("bitget-fast soak: interrupted", file=sys.stderr)
        return 130
    d = report.to_dict()
    if args.json:
        print(json.dumps(d))
    else:
        print_report(d, sys.stdout)
    return 0 if report.ok else 3
