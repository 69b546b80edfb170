"""The README's Python example runs as written, and its first screen keeps exactly two commands."""

from __future__ import annotations

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), flags=re.S)


def test_python_example_runs(monkeypatch, capsys):
    monkeypatch.setenv("BITGET_API_KEY", "bg_0123456789abcdef")
    monkeypatch.setenv("BITGET_SECRET_KEY", "mysecret-0123456789abcdef")
    monkeypatch.setenv("BITGET_PASSPHRASE", "MyPassphrase1")
    example = _blocks("python")[0]
    ns: dict = {}
    exec(compile(example, str(README), "exec"), ns)
    assert ns["sig"] == "372i1AlkniuN4UVVi44ATebolLQMP+hcA2qAsUrNSyc="
    assert ns["headers"]["paptrading"] == "1"
    out = capsys.readouterr().out
    assert "mysecret" not in out and "MyPassphrase1" not in out and "<hidden>" in out


def test_market_data_example_runs(capsys):
    exec(compile(_blocks("python")[1], str(README), "exec"), {"__name__": "readme_example"})
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[0].split()[1] in ("buy", "sell")
    assert out[1].startswith("<OrderBook BTCUSDT") and "valid=True" in out[1]
    assert out[1].endswith("True")


def test_simulator_example_runs(capsys):
    blocks = _blocks("python")
    assert len(blocks) == 6
    exec(compile(blocks[2], str(README), "exec"), {"__name__": "readme_example"})
    out = capsys.readouterr().out
    assert re.search(r"^http://127\.0\.0\.1:\d+ ws://127\.0\.0\.1:\d+/v2/ws/public "
                     r"ws://127\.0\.0\.1:\d+/v2/ws/private$", out.strip())


def test_trading_example_runs(capsys):
    exec(compile(_blocks("python")[3], str(README), "exec"), {"__name__": "readme_example"})
    assert capsys.readouterr().out.split() == ["canceled", "filled", "0.0100"]


def test_paper_trading_line_builds_a_paper_connector():
    # the README's paper line: constructing needs no keys and no network (start() does)
    from bitget_fast import BitgetPerpetual

    block = _blocks("python")[4]
    ns: dict = {"BitgetPerpetual": BitgetPerpetual}
    exec(compile(block, str(README), "exec"), ns)
    assert ns["bp"].paper and ns["bp"].credentials.api_key.startswith("bg_paper_")


def test_candles_example_runs(capsys):
    exec(compile(_blocks("python")[5], str(README), "exec"), {"__name__": "readme_example"})
    n, closed, close = capsys.readouterr().out.split()
    assert int(n) in (23, 24) and closed == "True" and float(close) > 0


def test_first_screen_has_the_two_commands_and_ci_runs_the_test_command():
    first = _blocks("sh")[0].strip().splitlines()
    assert len(first) == 2
    assert first[0].startswith("python3 -m venv .venv") and "pip install" in first[0]
    assert first[1] == "pytest"
    ci = (README.parent / ".ci" / "run").read_text()
    assert re.search(r"^pytest$", ci, flags=re.M), ".ci/run must run the README's test command"
