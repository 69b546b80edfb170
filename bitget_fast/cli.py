"""The ``bitget-fast`` command line.

* ``demo``: the embedded simulator, a demo account and a two-sided quoting loop, shown
  live (no network, no keys); ``--json`` prints the summary as JSON.
* ``book``: live top of book and stream stats, from Bitget or the simulator (``--sim``).
* ``record`` / ``replay``: raw frames into rotating files; back through the live code path.
* ``candles``: a symbol's candles over any range (REST, paged), as CSV or JSON lines.
* ``bench``: the benchmark suite of a checkout: ratio table, RESULTS.md, a PNG chart.
* ``sim``: the local Bitget V2 exchange simulator until Ctrl-C, with its URLs and a key.
* ``fault``: script a fault on a running simulator.
* ``soak``: quote against the simulator while it injects faults; check nothing is lost.

Exit status: 0 done (``book`` and ``record`` stop normally at Ctrl-C); 1 failed (the message
says why: no network, unreadable file...); 2 bad arguments; 3 it ran but something failed a
check (the demo's state not equal to the exchange's, a book's checksum, a replayed file cut
short, records lost, a soak invariant); 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import signal
import sys
from typing import Any, Sequence

from bitget_fast import _cli_bench, _cli_candles, _cli_market, _cli_soak

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bitget-fast", description="Bitget USDT-M futures tools.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    d = sub.add_parser(
        "demo", help="quote a symbol on the embedded simulator, shown live (no network, no keys)",
        description="Start the embedded Bitget simulator, connect to it with a fresh demo "
        "account, stream the checked order book and run a small two-sided post-only quoting "
        "loop, showing the top of book, our quotes, fills, position, PnL and latency live. At "
        "the end every order is canceled, the position closed, and a summary printed. Nothing "
        "leaves this machine. With --paper the book comes live from Bitget instead, and the "
        "orders are matched here against it (paper trading).")
    d.add_argument("--duration", type=float, default=30.0, metavar="S",
                   help="seconds of quoting (default 30)")
    d.add_argument("--symbol", default="BTCUSDT", help="symbol to quote (default BTCUSDT)")
    d.add_argument("--size", default="0.01", help="size of each quote (default 0.01)")
    d.add_argument("--edge", type=int, default=0, metavar="TICKS",
                   help="ticks behind the others' best price; negative: inside it (default 0: "
                   "join it)")
    d.add_argument("--max-position", default="0.05",
                   help="no quote takes |position| beyond this (default 0.05)")
    d.add_argument("--seed", type=int, default=1, help="the simulated market's seed (default 1)")
    d.add_argument("--json", action="store_true",
                   help="no live view; print the summary as one JSON object")
    d.add_argument("--paper", action="store_true",
                   help="paper trading: quote against Bitget's live book (public data, no "
                   "keys), orders matched locally; needs the network")
    d.add_argument("--usdt", default="10000", help="USDT in the account (default 10000)")
    d.add_argument("--ws-url", metavar="URL",
                   help="--paper: the public WebSocket to read books from (default Bitget's; "
                   "e.g. a recording served by `bitget-fast replay --serve`)")
    d.add_argument("--rest-url", metavar="URL",
                   help="--paper: where the contracts are read (default Bitget's REST API)")
    d.add_argument("--allow-insecure", action="store_true",
                   help="--paper: accept plain ws:// or http:// URLs to a host that is not loopback")
    s = sub.add_parser("sim", help="run the local Bitget V2 exchange simulator until Ctrl-C",
                       description="Run the local Bitget V2 USDT-M exchange simulator (REST and "
                       "WebSocket on loopback) until Ctrl-C.")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=8080, help="REST port (default 8080; 0 = any)")
    s.add_argument("--ws-port", type=int, default=None,
                   help="WebSocket port (default: REST port + 1, or any when --port is 0)")
    s.add_argument("--symbols", default="BTCUSDT,ETHUSDT",
                   help="comma-separated USDT-M symbols (default BTCUSDT,ETHUSDT)")
    s.add_argument("--seed", type=int, default=1, help="seed of the synthetic market (default 1)")
    s.add_argument("--flow-rate", type=float, default=20.0,
                   help="background events per second per symbol (default 20; 0 = still)")
    s.add_argument("--usdt", default="10000", help="USDT in the demo account (default 10000)")
    s.add_argument("--api-key", help="demo account API key (default: random)")
    s.add_argument("--secret", help="demo account secret (default: random)")
    s.add_argument("--passphrase", help="demo account passphrase (default: random)")
    s.add_argument("--tls", action="store_true",
                   help="serve https:// and wss:// with the bundled self-signed localhost certificate")
    s.add_argument("--no-rate-limits", action="store_true", help="do not enforce Bitget's rate limits")
    b = sub.add_parser(
        "book", help="live top of book and stream stats (Bitget, or --sim)",
        description="Stream checked order books and show the top levels, spread, update rate, "
        "checksums verified and the stream's health live. Connects to Bitget's public "
        "WebSocket (no keys needed); --sim uses the embedded simulator instead. Ctrl-C (or "
        "--duration) ends it with a summary, exit status 0.",
        epilog="examples:\n  bitget-fast book BTCUSDT\n  bitget-fast book BTCUSDT ETHUSDT "
        "--depth 10\n  bitget-fast book BTCUSDT --sim --duration 5 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _cli_market.add_source_options(b)
    b.add_argument("--depth", type=int, default=5, help="levels shown per side (default 5)")
    b.add_argument("--verbose", action="store_true", help="log every stream event to stderr")
    r = sub.add_parser(
        "record", help="record raw frames with receive times into rotating files",
        description="Record every WebSocket frame received (books, optionally trades and "
        "tickers) with its receive time into compact gzip files that rotate by size and "
        "age and never overwrite. `bitget-fast replay` (or bitget_fast.record.Replayer) "
        "plays them back through the live code path. Ctrl-C (or --duration) ends it, "
        "exit status 0.",
        epilog="examples:\n  bitget-fast record BTCUSDT ETHUSDT -o data/btc-eth --trades\n"
        "  bitget-fast record BTCUSDT -o /tmp/sim --sim --duration 10",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _cli_market.add_source_options(r)
    r.add_argument("-o", "--output", required=True, metavar="PREFIX",
                   help="path prefix of the files: PREFIX-<UTC start>.bfrec.gz")
    r.add_argument("--trades", action="store_true", help="also record the trade channel")
    r.add_argument("--tickers", action="store_true", help="also record the ticker channel")
    r.add_argument("--max-mb", type=float, default=256.0,
                   help="start a new file after this many MB on disk (default 256)")
    r.add_argument("--rotate-s", type=float, default=3600.0,
                   help="start a new file after this many seconds (default 3600)")
    r.add_argument("--no-compress", action="store_true", help="write .bfrec files uncompressed")
    r.add_argument("--verbose", action="store_true", help="log every stream event to stderr")
    ca = sub.add_parser(
        "candles", help="a symbol's candles over any range as CSV or JSON lines (Bitget, or --sim)",
        description="Read candles from --since to --until (default: the last closed one) over "
        "Bitget's REST API, paged within its limits (1000 per call recently, 200 from the "
        "history endpoints, 90 days per call) and under its rate limits, and write them as "
        "CSV (or JSON lines) to stdout or a file. Gapless: an interval without trades is a "
        "flat candle at the previous close with zero volume. --follow continues live over "
        "the WebSocket. A progress line is shown on stderr when it is a terminal. No keys "
        "needed; --sim reads from the embedded simulator.",
        epilog="examples:\n  bitget-fast candles BTCUSDT --interval 1m --since 2026-01-01T00:00Z"
        " > btc.csv\n  bitget-fast candles BTCUSDT --interval 1H --since 2026-01-01 --until "
        "2026-02-01 --json -o btc.jsonl\n  bitget-fast candles BTCUSDT --sim --interval 5m "
        "--since 2026-11-20",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _cli_candles.add_options(ca)
    rp = sub.add_parser(
        "replay", help="replay recordings through the parser and books; integrity and speed",
        description="Feed recorded frames through the same listener, parser and checked books "
        "as live data, and print what they held (messages, checksums verified, integrity "
        "errors, rejects) and how fast they went. Exit status 3 if anything failed a check "
        "or a file was cut short. With --serve, play the recording instead as Bitget's "
        "public WebSocket on loopback, to any client (bitget_fast, ccxt, your own), until "
        "Ctrl-C.",
        epilog="examples:\n  bitget-fast replay data/btc-eth-*.bfrec.gz\n"
        "  bitget-fast replay data/ --speed 1      # at the recorded pace\n"
        "  bitget-fast replay data/ --serve --port 9443 --speed 1   # ws://127.0.0.1:9443/v2/ws/public",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    rp.add_argument("files", nargs="+", metavar="FILE",
                    help="recording files, directories of them, or glob patterns")
    rp.add_argument("--speed", type=float, default=0.0,
                    help="pace: 1 = as recorded, 10 = ten times faster, 0 = full speed (default)")
    rp.add_argument("--serve", action="store_true",
                    help="serve the recording as a public WebSocket instead (see above)")
    rp.add_argument("--host", default="127.0.0.1", help="--serve: address (default 127.0.0.1)")
    rp.add_argument("--port", type=int, default=0, help="--serve: port (default 0: any free one)")
    rp.add_argument("--json", action="store_true", help="print the result as one JSON object")
    rp.add_argument("--verbose", action="store_true", help="log every rejected message to stderr")
    be = sub.add_parser(
        "bench", help="run the benchmark suite: ratio table, Markdown report, PNG chart",
        description="Run bitget_fast's benchmark suite (the benchmarks/ directory of a "
        "checkout, with the `bench` extra installed): every bitget_fast case beside its "
        "baseline (plain Python, aiohttp, ccxt...) in the same run. Prints the ratio table, "
        "writes RESULTS.md (with the machine it ran on and the targets met) and bench.json, "
        "and bench.png when matplotlib is installed. Exit status 3 if a target was missed. "
        "The full suite takes a few minutes; -k picks a part.",
        epilog="examples:\n  bitget-fast bench\n  bitget-fast bench -k 'sign or book' "
        "--out /tmp/bench", formatter_class=argparse.RawDescriptionHelpFormatter)
    _cli_bench.add_options(be)
    f = sub.add_parser(
        "fault", help="script a fault (or move the market) on a running simulator",
        description="Call one fault or market-control method of a running `bitget-fast sim`, "
        "e.g. `bitget-fast fault http://127.0.0.1:8080 corrupt_checksum symbol=BTCUSDT` or "
        "`... drop_connections which=public`. Values are JSON when they parse, else strings. "
        "Names: drop_connections stall corrupt_checksum skip_seq send_malformed send_oversized "
        "fail_rest never_answer reply_raw delay_acks ws_events_before_rest clear_faults restart advance "
        "set_mark_price set_funding_rate settle_funding (see docs/simulator.md).")
    so = sub.add_parser(
        "soak", help="quote against the simulator under injected faults; check nothing is lost",
        description="Run the connector with a quoting strategy against the embedded simulator "
        "while the simulator injects a fault every few seconds (disconnects, stalls, checksum "
        "corruption, seq gaps, 429, 5xx, lost replies, delayed acks, malformed frames, "
        "restarts). Checks books after every resync, orders, fills, positions and balances at "
        "checkpoints, resident memory, and every log record for secrets. Exit status 3 if an "
        "invariant failed. No network, no keys.",
        epilog="examples:\n  bitget-fast soak --duration 120\n  bitget-fast soak --duration 1800 "
        "--seed 7 --json > soak.json\n  bitget-fast soak --faults restart,lost_reply --fault-every 1",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _cli_soak.add_options(so)
    f.add_argument("rest_url", help="the simulator's REST URL, as `bitget-fast sim` printed it")
    f.add_argument("name", help="method name, e.g. corrupt_checksum")
    f.add_argument("args", nargs="*", metavar="key=value", help="keyword arguments")
    return p


def _fault(args: argparse.Namespace) -> int:
    import json
    import ssl
    import urllib.error
    import urllib.request

    kwargs: dict[str, object] = {}
    for item in args.args:
        key, sep, value = item.partition("=")
        if not sep or not key:
            print(f"bitget-fast fault: expected key=value, got {item!r}", file=sys.stderr)
            return 2
        try:
            kwargs[key] = json.loads(value)
        except ValueError:
            kwargs[key] = value
    body = json.dumps({"name": args.name, "args": kwargs}).encode()
    req = urllib.request.Request(args.rest_url.rstrip("/") + "/sim/control", data=body,
                                 headers={"Content-Type": "application/json"}, method="POST")
    ctx = None
    if args.rest_url.startswith("https://"):
        from .sim.server import TLS_CERT   # trusts the simulator's own certificate
        ctx = ssl.create_default_context(cafile=str(TLS_CERT))
    try:
        with urllib.request.urlopen(req, timeout=10, context=ctx) as resp:
            reply = json.loads(resp.read())
    except urllib.error.HTTPError as e:
        reply = json.loads(e.read() or b"{}")
        print(f"bitget-fast fault: {reply.get('msg', e)}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as e:
        print(f"bitget-fast fault: cannot reach {args.rest_url}: {e}", file=sys.stderr)
        return 1
    print(f"{args.name}: ok" + (f" ({reply['data']['result']})"
                                 if reply.get("data", {}).get("result") is not None else ""))
    return 0


async def _run_sim(args: argparse.Namespace) -> None:
    from .sim.server import TLS_CERT, Simulator

    ws_port = args.ws_port if args.ws_port is not None else (args.port + 1 if args.port else 0)
    symbols = [x.strip().upper() for x in args.symbols.split(",") if x.strip()]
    sim = Simulator(symbols, seed=args.seed, host=args.host, rest_port=args.port, ws_port=ws_port,
                    tls=args.tls, flow_rate=args.flow_rate,
                    enforce_rate_limits=not args.no_rate_limits)
    key = args.api_key or "bg_sim_" + secrets.token_hex(8)
    secret = args.secret or secrets.token_hex(16)
    passphrase = args.passphrase or "Sim" + secrets.token_hex(4)
    async with sim:
        sim.add_account(key, secret, passphrase, usdt=args.usdt, ws_trading=True)
        lines = [
            f"bitget-fast simulator: {', '.join(symbols)} (seed {args.seed})",
            f"  REST          {sim.rest_url}",
            f"  WS public     {sim.ws_public_url}",
            f"  WS private    {sim.ws_private_url}",
        ]
        if args.tls:
            lines.append(f"  TLS CA file   {TLS_CERT}")
        lines += [
            "  demo account (local simulator only; WebSocket trading enabled):",
            f"    export BITGET_API_KEY={key}",
            f"    export BITGET_SECRET_KEY={secret}",
            f"    export BITGET_PASSPHRASE={passphrase}",
            "Ctrl-C stops it.",
        ]
        print("\n".join(lines), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    print("simulator stopped", flush=True)


def _demo(args: argparse.Namespace) -> int:
    import json

    from .demo import DemoConfig, print_summary, run_demo
    from .errors import BitgetError

    if args.duration <= 0:
        print("bitget-fast demo: --duration must be > 0", file=sys.stderr)
        return 2
    if (args.ws_url or args.rest_url) and not args.paper:
        print("bitget-fast demo: --ws-url and --rest-url go with --paper", file=sys.stderr)
        return 2
    cfg = DemoConfig(symbol=args.symbol.upper(), duration_s=args.duration, size=args.size,
                     edge_ticks=args.edge, max_position=args.max_position, seed=args.seed,
                     usdt=args.usdt, paper=args.paper, ws_url=args.ws_url,
                     rest_url=args.rest_url, allow_insecure=args.allow_insecure)
    run: Any = asyncio.run
    try:
        import uvloop   # the loop the benchmarks run on, when installed
        run = uvloop.run
    except ImportError:
        pass
    try:
        summary = run(run_demo(cfg, out=None if args.json else sys.stdout))
    except KeyboardInterrupt:
        print("bitget-fast demo: interrupted", file=sys.stderr)
        return 130
    except (BitgetError, ValueError, ArithmeticError) as e:
        print(f"bitget-fast demo: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(summary))
    else:
        print_summary(summary)
    healthy = summary["state_equals_exchange"] and not summary["book_integrity_errors"]
    return 0 if healthy else 3


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``bitget-fast``; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "demo":
        return _demo(args)
    if args.command in ("book", "record"):
        if args.duration is not None and args.duration <= 0:
            print(f"bitget-fast {args.command}: --duration must be > 0", file=sys.stderr)
            return 2
        if args.command == "book" and not 1 <= args.depth <= 400:
            print("bitget-fast book: --depth must be 1 to 400", file=sys.stderr)
            return 2
        fn = _cli_market.run_book if args.command == "book" else _cli_market.run_record
        return _cli_market.run(fn, args, args.command)
    if args.command == "bench":
        try:
            return _cli_bench.run_bench(args)
        except KeyboardInterrupt:
            print("bitget-fast bench: interrupted", file=sys.stderr)
            return 130
    if args.command == "replay":
        if args.speed < 0:
            print("bitget-fast replay: --speed must be >= 0", file=sys.stderr)
            return 2
        if args.serve:
            return _cli_market.run(_cli_market.run_serve, args, "replay")
        return _cli_market.run(_cli_market.run_replay, args, "replay")
    if args.command == "sim":
        try:
            asyncio.run(_run_sim(args))
        except OSError as e:
            print(f"bitget-fast sim: cannot listen on {args.host}:{args.port}: {e.strerror or e}",
                  file=sys.stderr)
            return 1
        except ImportError as e:
            print(f"bitget-fast sim: {e}", file=sys.stderr)
            return 1
        return 0
    if args.command == "fault":
        return _fault(args)
    if args.command == "soak":
        return _cli_soak.run_soak_cli(args)
    if args.command == "candles":
        return _cli_candles.main(args)
    return 2
