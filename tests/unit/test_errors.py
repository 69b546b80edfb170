"""The error table: every code of DECISIONS section 5 maps to its class; messages carry code and path."""

from __future__ import annotations

import pickle

import pytest

import bitget_fast
from bitget_fast import errors
from bitget_fast.errors import (
    AuthenticationError,
    ClockSkewError,
    DuplicateClientOidError,
    ExchangeError,
    ExchangeUnavailableError,
    InsufficientFundsError,
    NoPositionError,
    OrderNotFoundError,
    OutcomeUnknownError,
    ParameterError,
    PositionModeError,
    RateLimitError,
    error_class_for,
    exchange_error,
)

TABLE = {
    AuthenticationError: "40001 40002 40003 40011 40006 40009 40012 40014 40018 40038",
    ClockSkewError: "40005 40008",
    ParameterError: "40017 40019 40020 40034 40808 41103 45115 43028 43006 45110 45111 45112 "
                    "45113 40923 40924 40925 22003",
    InsufficientFundsError: "43012 40754 40798 45002 40762",
    OrderNotFoundError: "40109 43001 45057 40768 31007 22001",
    PositionModeError: "40774 40920",
    NoPositionError: "45003 45006 40757 22002 45005",
    DuplicateClientOidError: "45034 43118",
}


@pytest.mark.parametrize("cls", list(TABLE), ids=lambda c: c.__name__)
def test_every_code_maps_to_its_class(cls):
    for code in TABLE[cls].split():
        assert error_class_for(code) is cls, code
        assert error_class_for(code, 400) is cls, code


def test_rate_limit_transient_and_unknown():
    assert error_class_for("429") is RateLimitError
    assert error_class_for("", 429) is RateLimitError
    for code in ("40015", "40725", "45001", "40200"):
        assert error_class_for(code) is ExchangeUnavailableError
        assert error_class_for(code, changes_orders=True) is OutcomeUnknownError
    assert error_class_for("", 502) is ExchangeUnavailableError
    assert error_class_for("", 503, changes_orders=True) is OutcomeUnknownError
    assert error_class_for("99999") is ExchangeError
    assert error_class_for("40085", 400) is ExchangeError


def test_exchange_error_message_and_fields():
    err = exchange_error("45115", "price should be a multiple of 0.1", http_status=400,
                         path="/api/v2/mix/order/place-order")
    assert isinstance(err, ParameterError)
    assert (err.code, err.msg, err.http_status, err.path) == (
        "45115", "price should be a multiple of 0.1", 400, "/api/v2/mix/order/place-order")
    assert str(err) == ("Bitget error 45115 on /api/v2/mix/order/place-order (HTTP 400): "
                        "price should be a multiple of 0.1")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is ParameterError and back.path == err.path and str(back) == str(err)


def test_hierarchy_and_stdlib_bases():
    assert issubclass(bitget_fast.ConfigurationError, ValueError)
    assert issubclass(bitget_fast.ValidationError, ValueError)
    assert issubclass(bitget_fast.TransportError, ConnectionError)
    assert issubclass(bitget_fast.ChecksumMismatch, bitget_fast.BookIntegrityError)
    assert issubclass(bitget_fast.SequenceGap, bitget_fast.ProtocolError)
    assert issubclass(ClockSkewError, AuthenticationError)
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type):
            assert issubclass(obj, bitget_fast.BitgetError)
            assert obj.__doc__, name


def test_protocol_error_carries_location():
    err = bitget_fast.ProtocolError("bad digit", channel="books", offset=17, excerpt=b'"1x"')
    assert (err.channel, err.offset, err.excerpt) == ("books", 17, b'"1x"')
