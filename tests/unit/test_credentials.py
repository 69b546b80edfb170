"""Credentials: headers and WS login exactly as the protocol reference gives them; secrets never shown."""

from __future__ import annotations

import copy
import logging
import pickle

import orjson
import pytest

from bitget_fast import ConfigurationError, Credentials, Signer, encode_query
from bitget_fast.auth import ENV_API_KEY, ENV_PASSPHRASE, ENV_SECRET_KEY

API_KEY = "bg_0123456789abcdef"
SECRET = "mysecret-0123456789abcdef"
PASSPHRASE = "MyPassphrase1"
R3_BODY = (b'{"symbol":"BTCUSDT","productType":"USDT-FUTURES","marginMode":"crossed",'
           b'"marginCoin":"USDT","size":"0.001","price":"60000.5","side":"buy",'
           b'"tradeSide":"open","orderType":"limit","force":"post_only","clientOid":"mm-000001"}')


@pytest.fixture
def creds() -> Credentials:
    return Credentials(API_KEY, SECRET, PASSPHRASE)


def test_r3_full_header_set(creds):
    # Protocol reference 2.3, "Full header set for R3".
    assert creds.rest_headers("POST", "/api/v2/mix/order/place-order", body=R3_BODY,
                              timestamp_ms=1700000000456) == {
        "ACCESS-KEY": "bg_0123456789abcdef",
        "ACCESS-SIGN": "uX7inZgoKNgg0MZn2YKJJ7Gb1ZHGvQHTpudnDLxkkpA=",
        "ACCESS-TIMESTAMP": "1700000000456",
        "ACCESS-PASSPHRASE": "MyPassphrase1",
        "Content-Type": "application/json",
        "locale": "en-US",
    }


def test_demo_adds_paptrading_and_get_query_is_signed(creds):
    query = encode_query({"symbol": "BTCUSDT", "productType": "USDT-FUTURES"})
    assert query == "productType=USDT-FUTURES&symbol=BTCUSDT"
    headers = creds.rest_headers("get", "/api/v2/mix/order/orders-pending", query,
                                 timestamp_ms=1700000000000, demo=True)
    assert headers["paptrading"] == "1"
    assert headers["ACCESS-SIGN"] == "FJXGqLm16TMrK7sDS5mQRgqYXkXAfZWfnz4pbUQHnb4="
    assert "paptrading" not in creds.rest_headers("GET", "/p", timestamp_ms=1)


def test_default_timestamp_is_now_in_ms(creds):
    import time

    before = time.time_ns() // 1_000_000
    ts = int(creds.rest_headers("GET", "/p")["ACCESS-TIMESTAMP"])
    assert before <= ts <= time.time_ns() // 1_000_000


def test_ws_login_w1_exact_message(creds):
    # Protocol reference 6.2, vector W1 (seconds).
    assert creds.ws_login_message(1700000000) == (
        b'{"op":"login","args":[{"apiKey":"bg_0123456789abcdef","passphrase":"MyPassphrase1",'
        b'"timestamp":"1700000000","sign":"372i1AlkniuN4UVVi44ATebolLQMP+hcA2qAsUrNSyc="}]}')
    args = creds.ws_login_args()
    assert len(args["timestamp"]) == 10  # seconds, not ms


def test_encode_query_sorts_encodes_and_skips_none():
    assert encode_query(None) == ""
    assert encode_query({}) == ""
    assert encode_query({"b": 2, "a": "x y", "c": None, "d": True}) == "a=x%20y&b=2&d=true"
    assert encode_query({"clientOid": "a+b#c/d~e.f_g-h"}) == "clientOid=a%2Bb%23c%2Fd~e.f_g-h"


def test_from_env_names_every_missing_variable():
    env = {ENV_API_KEY: API_KEY, ENV_SECRET_KEY: SECRET, ENV_PASSPHRASE: PASSPHRASE}
    assert Credentials.from_env(env).api_key == API_KEY
    with pytest.raises(ConfigurationError, match=f"environment variable {ENV_PASSPHRASE} is not set"):
        Credentials.from_env({ENV_API_KEY: API_KEY, ENV_SECRET_KEY: SECRET})
    with pytest.raises(ConfigurationError) as info:
        Credentials.from_env({ENV_SECRET_KEY: SECRET, ENV_PASSPHRASE: ""})
    msg = str(info.value)
    assert ENV_API_KEY in msg.split("are not set")[0] and ENV_PASSPHRASE in msg.split("are not set")[0]
    assert SECRET not in msg


def test_from_env_reads_os_environ(monkeypatch):
    monkeypatch.setenv(ENV_API_KEY, API_KEY)
    monkeypatch.setenv(ENV_SECRET_KEY, SECRET)
    monkeypatch.setenv(ENV_PASSPHRASE, PASSPHRASE)
    creds = Credentials.from_env()
    assert creds.rest_headers("GET", "/p", timestamp_ms=1)["ACCESS-PASSPHRASE"] == PASSPHRASE


@pytest.mark.parametrize(("args", "field"), [
    (("", SECRET, PASSPHRASE), "api_key is empty"),
    ((API_KEY, "", PASSPHRASE), "secret is empty"),
    ((API_KEY, SECRET, ""), "passphrase is empty"),
    ((API_KEY, SECRET, "pass\r\nX-Injected: 1"), "passphrase must be printable ASCII"),
    ((API_KEY, SECRET, "pässword"), "passphrase must be printable ASCII"),
    ((API_KEY, 42, PASSPHRASE), "secret must be a str or bytes, not int"),
    ((None, SECRET, PASSPHRASE), "api_key must be a str, not NoneType"),
])
def test_invalid_credentials_name_the_field_never_the_value(args, field):
    with pytest.raises(ConfigurationError, match=field) as info:
        Credentials(*args)
    text = str(info.value) + repr(info.value)
    for value in args:
        if isinstance(value, str) and value:
            assert value not in text


SECRET_STRINGS = (SECRET, PASSPHRASE)


def _assert_no_secret(text: str) -> None:
    for s in SECRET_STRINGS:
        assert s not in text
    assert API_KEY not in text  # the key itself is shown masked only


def test_repr_str_format_and_logs_show_no_secret(creds, caplog):
    _assert_no_secret(repr(creds))
    _assert_no_secret(str(creds))
    _assert_no_secret(f"{creds}")
    _assert_no_secret(f"{creds!r}")
    assert "<hidden>" in repr(creds)
    assert repr(creds).startswith("Credentials(api_key='bg_0…cdef'")
    _assert_no_secret(repr(creds.signer))
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("bitget_fast.test").info("creds %s %r", creds, creds)
        logging.getLogger("bitget_fast.test").info("signer %s", creds.signer)
    _assert_no_secret(caplog.text)


def test_credentials_and_signer_cannot_be_pickled_or_copied(creds):
    for obj in (creds, creds.signer, Signer(SECRET)):
        for proto in range(pickle.HIGHEST_PROTOCOL + 1):
            with pytest.raises(TypeError, match="cannot be pickled") as info:
                pickle.dumps(obj, protocol=proto)
            _assert_no_secret(str(info.value))
        with pytest.raises(TypeError, match="cannot be pickled"):
            copy.copy(obj)
        with pytest.raises(TypeError, match="cannot be pickled"):
            copy.deepcopy(obj)


def test_signer_has_no_secret_attributes(creds):
    assert not hasattr(creds, "__dict__")
    assert not any("secret" in name.lower() for name in dir(creds) if not name.startswith("__"))
    assert all(not name.startswith("_key") for name in dir(creds.signer))


def test_credentials_attributes_are_read_only(creds):
    with pytest.raises(AttributeError):
        creds.api_key = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        creds.secret = "other"  # type: ignore[attr-defined]


def test_undecodable_secret_never_appears_in_the_error():
    # os.environ decodes non-UTF-8 bytes with surrogateescape: a lone surrogate
    # makes str.encode fail, and UnicodeEncodeError would carry the whole secret.
    secret = "TOPSECRET\udce9xyz"
    for make in (lambda: Credentials(API_KEY, secret, PASSPHRASE), lambda: Signer(secret)):
        with pytest.raises(ConfigurationError, match="not valid Unicode") as info:
            make()
        err = info.value
        assert err.__cause__ is None and err.__context__ is None
        text = str(err) + repr(err) + repr(err.args)
        assert "TOPSECRET" not in text


def test_undecodable_secret_from_env(monkeypatch):
    monkeypatch.setenv(ENV_API_KEY, API_KEY)
    monkeypatch.setenv(ENV_SECRET_KEY, "TOPSECRET\udce9xyz")
    monkeypatch.setenv(ENV_PASSPHRASE, PASSPHRASE)
    with pytest.raises(ConfigurationError) as info:
        Credentials.from_env()
    assert info.value.__context__ is None and "TOPSECRET" not in repr(info.value)


def test_getstate_is_refused(creds):
    for obj in (creds, creds.signer):
        with pytest.raises(TypeError, match="cannot be pickled"):
            obj.__getstate__()
