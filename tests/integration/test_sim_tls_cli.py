"""TLS on request, and ``bitget-fast sim`` from the installed console script."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import sysconfig
import urllib.request
from pathlib import Path

import orjson
import pytest

from bitget_fast.auth import Credentials
from bitget_fast.sim import Simulator
from bitget_fast.sim.reference import Book


def test_tls_rest_and_websocket(h):
    @h.run_async()
    async def body():
        async with Simulator(["BTCUSDT"], seed=1, flow_rate=200, tls=True) as sim:
            assert sim.rest_url.startswith("https://") and sim.ws_public_url.startswith("wss://")
            sim.add_account(h.KEY, h.SECRET, h.PASSPHRASE)
            creds = Credentials(h.KEY, h.SECRET, h.PASSPHRASE)
            rest = h.Rest(sim, creds)
            r = await rest.get("/api/v2/mix/account/accounts", {"productType": "USDT-FUTURES"})
            assert r.status == 200 and r.data[0]["marginCoin"] == "USDT"
            await rest.close()
            ws = await h.Ws.connect(sim.ws_public_url, tls=True)
            assert ws.transport is not None and ws.transport.is_secure
            await ws.subscribe(h.book_arg())
            await ws.recv_json()
            book = Book("BTCUSDT", strict_seq=True)
            for _ in range(30):
                book.apply(await ws.recv_json())
            await ws.close()
            priv = await h.Ws.connect(sim.ws_private_url, tls=True)
            assert (await priv.login(creds))["code"] == 0
            await priv.close()
            # a client that does not trust the certificate refuses it
            with pytest.raises(ssl.SSLCertVerificationError):
                await asyncio.open_connection("127.0.0.1", sim.rest_port,
                                              ssl=ssl.create_default_context(),
                                              server_hostname="localhost")
    body()


def _console_script() -> str:
    exe = Path(sysconfig.get_path("scripts")) / "bitget-fast"
    if exe.exists():
        return str(exe)
    found = shutil.which("bitget-fast")
    assert found, "the bitget-fast console script is not installed"
    return found


def test_cli_sim_serves_until_ctrl_c():
    proc = subprocess.Popen([_console_script(), "sim", "--port", "0", "--symbols", "BTCUSDT,SOLUSDT",
                             "--seed", "9"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        lines = []
        assert proc.stdout is not None
        while not any("Ctrl-C" in x for x in lines):
            line = proc.stdout.readline()
            assert line, f"exited early: {proc.stderr.read() if proc.stderr else ''}"
            lines.append(line)
        text = "".join(lines)
        rest = re.search(r"REST\s+(http://\S+)", text).group(1)
        assert re.search(r"WS public\s+ws://\S+/v2/ws/public", text)
        assert re.search(r"WS private\s+ws://\S+/v2/ws/private", text)
        key = re.search(r"BITGET_API_KEY=(\S+)", text).group(1)
        secret = re.search(r"BITGET_SECRET_KEY=(\S+)", text).group(1)
        passphrase = re.search(r"BITGET_PASSPHRASE=(\S+)", text).group(1)
        with urllib.request.urlopen(rest + "/api/v2/mix/market/contracts?productType=USDT-FUTURES",
                                    timeout=5) as resp:
            symbols = {c["symbol"] for c in orjson.loads(resp.read())["data"]}
        assert symbols == {"BTCUSDT", "SOLUSDT"}
        path = "/api/v2/mix/account/accounts"
        hdrs = Credentials(key, secret, passphrase).rest_headers("GET", path, "productType=USDT-FUTURES")
        req = urllib.request.Request(rest + path + "?productType=USDT-FUTURES", headers=hdrs)
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert orjson.loads(resp.read())["data"][0]["available"] == "10000.00000000"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert "simulator stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_cli_reports_a_busy_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    try:
        port = s.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "bitget_fast", "sim", "--port", str(port)],
                           capture_output=True, text=True, timeout=20, cwd="/")
        assert r.returncode == 1
        assert f"cannot listen on 127.0.0.1:{port}" in r.stderr
    finally:
        s.close()


def test_cli_fault_scripts_a_running_simulator(h, capsys):
    from bitget_fast.cli import main
    from bitget_fast.errors import ChecksumMismatch

    @h.run_async()
    async def body():
        async with Simulator(["BTCUSDT"], seed=2, flow_rate=300) as sim:
            ws = await h.Ws.connect(sim.ws_public_url)
            await ws.subscribe(h.book_arg())
            await ws.recv_json()
            book = Book("BTCUSDT", strict_seq=True)
            for _ in range(10):
                book.apply(await ws.recv_json())
            rc = await asyncio.to_thread(main, ["fault", sim.rest_url, "corrupt_checksum",
                                                "symbol=BTCUSDT"])
            assert rc == 0
            with pytest.raises(ChecksumMismatch):
                for _ in range(100):
                    book.apply(await ws.recv_json())
            rc = await asyncio.to_thread(main, ["fault", sim.rest_url, "explode"])
            assert rc == 1
            rc = await asyncio.to_thread(main, ["fault", sim.rest_url, "skip_seq", "sym=BTCUSDT"])
            assert rc == 1                          # a wrong keyword is refused, not ignored
            rc = await asyncio.to_thread(main, ["fault", sim.rest_url, "drop_connections",
                                                "which=public"])
            assert rc == 0
            await asyncio.wait_for(ws.closed.wait(), 2)
            rc = await asyncio.to_thread(main, ["fault", sim.rest_url, "stall", "bad"])
            assert rc == 2
    body()
    err = capsys.readouterr().err
    assert "unknown control 'explode'" in err and "expected key=value" in err
    assert "skip_seq" in err and "sym" in err
