"""Transport safety: plain ws:// and http:// only to loopback unless allowed, and TLS
certificates verified by default (a self-signed server is refused until trusted)."""

from __future__ import annotations

import ssl

import pytest

from bitget_fast import BitgetPerpetual, ConfigurationError, Credentials, MarketData, RestClient
from bitget_fast import TransportError
from bitget_fast.private import PrivateStream
from bitget_fast.rest import REST_URL
from bitget_fast.sim import Simulator

from .conftest import run_async

CREDS = Credentials("bg_" + "a" * 29, "s" * 64, "passphrase-1")
OFF_LOOPBACK = ["10.1.2.3", "192.168.0.7", "example.com", "[2001:db8::1]", "0.0.0.0"]
LOOPBACK = ["127.0.0.1", "127.8.9.10", "localhost", "[::1]"]


async def _nothing() -> None:
    return None


def _private(url: str, **kw):
    return PrivateStream(url, CREDS, on_push=lambda name, rows: None, on_ready=_nothing, **kw)


@pytest.mark.parametrize("host", OFF_LOOPBACK)
@run_async()
async def test_plain_transport_to_a_host_off_loopback_is_refused(host):
    with pytest.raises(ConfigurationError, match=r"refusing plain http:// for the REST"):
        RestClient(f"http://{host}:8080", CREDS)
    with pytest.raises(ConfigurationError, match=r"refusing plain ws:// for the public"):
        MarketData(["BTCUSDT"], url=f"ws://{host}/v2/ws/public")
    with pytest.raises(ConfigurationError, match=r"refusing plain ws:// for the private"):
        _private(f"ws://{host}/v2/ws/private")
    for kw, what in ((dict(rest_url=f"http://{host}"), "REST"),
                     (dict(ws_public_url=f"ws://{host}/p"), "public WebSocket"),
                     (dict(ws_private_url=f"ws://{host}/q"), "private WebSocket")):
        with pytest.raises(ConfigurationError, match=f"for the {what} connection") as e:
            BitgetPerpetual(CREDS, **kw)
        assert "allow_insecure=True" in str(e.value) and "s" * 64 not in str(e.value)
    # explicitly allowed: constructed (nothing connects before start)
    rc = RestClient(f"http://{host}:8080", CREDS, allow_insecure=True)
    MarketData(["BTCUSDT"], url=f"ws://{host}/v2/ws/public", allow_insecure=True)
    _private(f"ws://{host}/v2/ws/private", allow_insecure=True)
    bp = BitgetPerpetual(CREDS, rest_url=f"http://{host}", ws_public_url=f"ws://{host}/p",
                         ws_private_url=f"ws://{host}/q", allow_insecure=True)
    await rc.close()
    await bp.close()


@pytest.mark.parametrize("host", LOOPBACK)
@run_async()
async def test_plain_transport_to_loopback_and_tls_anywhere_are_accepted(host):
    await RestClient(f"http://{host}:8080", CREDS).close()
    MarketData(["BTCUSDT"], url=f"ws://{host}:1/v2/ws/public")
    _private(f"ws://{host}:1/v2/ws/private")
    await BitgetPerpetual(CREDS, rest_url=f"http://{host}:1", ws_public_url=f"ws://{host}:1/p",
                          ws_private_url=f"ws://{host}:1/q").close()
    await RestClient("https://10.1.2.3", CREDS).close()
    MarketData(["BTCUSDT"], url="wss://10.1.2.3/v2/ws/public")


def test_the_cli_refuses_a_plain_url_off_loopback_unless_allowed(capsys):
    from bitget_fast.cli import main

    rc = main(["book", "BTCUSDT", "--url", "ws://10.1.2.3:9/v2/ws/public", "--duration", "1",
               "--json"])
    err = capsys.readouterr().err
    assert rc != 0 and "refusing plain ws://" in err and "Traceback" not in err


@run_async()
async def test_default_rest_tls_context_verifies_certificates():
    rc = RestClient(REST_URL, CREDS)
    ctx = rc._ssl
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    await rc.close()


@run_async(60)
async def test_a_server_with_an_untrusted_certificate_is_refused_by_default():
    async with Simulator(["BTCUSDT"], seed=1, flow_rate=0, tls=True) as sim:
        assert sim.rest_url.startswith("https://") and sim.ws_public_url.startswith("wss://")
        rc = RestClient(sim.rest_url, None, timeout_s=3)
        with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED"):
            await rc.start()
        await rc.close()
        md = MarketData(["BTCUSDT"], url=sim.ws_public_url, connect_timeout_s=3,
                        subscribe_timeout_s=3)
        with pytest.raises(TransportError):
            await md.start()
        await md.close()
        # trusted explicitly: the same server answers
        async with RestClient(sim.rest_url, None, timeout_s=3,
                              ssl_context=Simulator.client_ssl_context()) as rc:
            data = await rc.request("GET", "/api/v2/public/time", signed=False)
            assert int(data["serverTime"]) > 0
        async with MarketData(["BTCUSDT"], url=sim.ws_public_url,
                              ssl_context=Simulator.client_ssl_context()) as md:
            assert md.book("BTCUSDT").is_valid
