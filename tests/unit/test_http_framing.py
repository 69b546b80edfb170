"""The REST client's HTTP/1.1 response framer (src/bf_http.c through _http.HttpFramer).

Concrete cases: every way a body is delimited (Content-Length, chunked, read-to-close,
none for 1xx/204/304), keep-alive for HTTP/1.0 and 1.1, pipelining, splitting a stream
at every byte, large bodies, and each malformed input the framer refuses: the error is a
ProtocolError naming the problem and its offset, and nothing is delivered after it. Every
case is also fed one byte at a time, which must give the same responses and the same error
(message and offset): an incomplete head, chunk-size line or trailer line is not scanned
again from its start on each byte.
tests/fuzz/test_http_fuzz.py compares the framer with httptools (llhttp) on generated and
mutated streams.
"""

from __future__ import annotations

import pytest

from bitget_fast._http import DEFAULT_MAX_BODY, HttpFramer
from bitget_fast.errors import ProtocolError

MAX_HEAD = 65536
MAX_CHUNK_LINE = 4096
# Streams up to this size are also fed one byte at a time by ok() and refused().
BYTEWISE_MAX = 1 << 18


def frame(data: bytes | list[bytes], *, eof: bool = False,
          max_body: int = DEFAULT_MAX_BODY) -> HttpFramer:
    """A framer fed ``data`` (one piece, or a list of pieces), then EOF if asked."""
    f = HttpFramer(max_body=max_body)
    for piece in [data] if isinstance(data, bytes) else data:
        f.feed(piece)
    if eof:
        f.feed_eof()
    return f


def joined(data: bytes | list[bytes]) -> bytes:
    return data if isinstance(data, bytes) else b"".join(data)


def bytewise(data: bytes | list[bytes]) -> list[bytes]:
    data = joined(data)
    return [data[i:i + 1] for i in range(len(data))]


def ok(data: bytes | list[bytes], *, eof: bool = False, **kw) -> list[tuple[int, bytes, bool]]:
    """The responses framed from ``data``, which must hold no error; the same one byte at a
    time."""
    f = frame(data, eof=eof, **kw)
    assert f.error is None, f.error
    if len(joined(data)) <= BYTEWISE_MAX:
        g = frame(bytewise(data), eof=eof, **kw)
        assert g.error is None, g.error
        assert g.responses == f.responses and g.buffered == f.buffered
    return f.responses


def refused(data: bytes | list[bytes], why: str, *, eof: bool = False, delivered=(),
            **kw) -> ProtocolError:
    """``data`` is refused with a ProtocolError naming ``why``, after ``delivered`` exactly."""
    f = frame(data, eof=eof, **kw)
    assert isinstance(f.error, ProtocolError), (f.error, f.responses)
    assert why in str(f.error), str(f.error)
    assert f.responses == list(delivered)
    if len(joined(data)) <= BYTEWISE_MAX:
        # one byte at a time: the same error at the same offset, after the same responses
        g = frame(bytewise(data), eof=eof, **kw)
        assert str(g.error) == str(f.error) and g.responses == f.responses
    # the framer is closed: nothing more is framed or delivered, the error stays
    err = f.error
    f.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
    f.feed_eof()
    assert f.responses == list(delivered) and f.error is err
    return err


def pieces_every_way(data: bytes):
    """``data`` byte by byte, and in two pieces at every offset."""
    yield [data[i:i + 1] for i in range(len(data))]
    for cut in range(len(data) + 1):
        yield [data[:cut], data[cut:]]


def cl(body: bytes, status: int = 200, extra: bytes = b"", version: bytes = b"1.1") -> bytes:
    return (b"HTTP/" + version + b" %d OK\r\n" % status + extra
            + b"Content-Length: %d\r\n\r\n" % len(body) + body)


def chunked(chunks: list[bytes], trailers: bytes = b"", extra: bytes = b"") -> bytes:
    out = b"HTTP/1.1 200 OK\r\n" + extra + b"Transfer-Encoding: chunked\r\n\r\n"
    for c in chunks:
        out += b"%x\r\n" % len(c) + c + b"\r\n"
    return out + b"0\r\n" + trailers + b"\r\n"


# -- Content-Length ---------------------------------------------------------------------------

def test_content_length_body():
    assert ok(cl(b'{"code":"00000"}')) == [(200, b'{"code":"00000"}', True)]


def test_content_length_zero_and_status_kept():
    assert ok(cl(b"", status=404)) == [(404, b"", True)]
    assert ok(cl(b"x", status=999)) == [(999, b"x", True)]


def test_content_length_with_whitespace_and_leading_zeros():
    data = b"HTTP/1.1 200 OK\r\ncontent-LENGTH: \t 003 \t\r\n\r\nabc"
    assert ok(data) == [(200, b"abc", True)]


def test_content_length_repeated_with_the_same_value():
    # RFC 9110 section 8.6: identical repeats may be accepted as one
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc"
    assert ok(data) == [(200, b"abc", True)]


def test_content_length_body_bytes_are_opaque():
    body = bytes(range(256)) + b"\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"
    assert ok(cl(body)) == [(200, body, True)]


def test_status_line_variants():
    for line in (b"HTTP/1.1 200 OK", b"HTTP/1.1 200", b"HTTP/1.1 200 ",
                 b"HTTP/1.1 200 \xe6\x88\x90\xe5\x8a\x9f\tfine",
                 b"HTTP/1.1 503 Service Unavailable"):
        expected = [(int(line[9:12]), b"z", True)]
        assert ok(line + b"\r\nContent-Length: 1\r\n\r\nz") == expected, line


def test_other_headers_are_ignored():
    data = (b"HTTP/1.1 200 OK\r\nServer: x\r\nX-Empty:\r\nX-Obs-Text: \xc3\xa9\xff\r\n"
            b"Set-Cookie: a=b; Path=/\r\nContent-Encoding: identity\r\n"
            b"!#$%&'*+-.^_`|~09AZaz: v\r\n"
            b"Content-Length: 2\r\n\r\nok")
    assert ok(data) == [(200, b"ok", True)]


def test_response_stops_at_content_length():
    f = frame(cl(b"abc") + b"HTTP/1.1 20")
    assert f.responses == [(200, b"abc", True)] and f.error is None
    assert f.buffered == len(b"HTTP/1.1 20")


# -- chunked ----------------------------------------------------------------------------------

def test_chunked_body():
    assert ok(chunked([b"hello ", b"world"])) == [(200, b"hello world", True)]


def test_chunked_empty_body():
    assert ok(chunked([])) == [(200, b"", True)]


def test_chunked_extensions_are_ignored():
    data = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;name=value\r\nhello\r\n"
            b"1;a;b=\"quoted;\\\" \";c=d\r\n \r\n"
            b"5 ; spaced = ok\r\nworld\r\n"
            b"0;last=yes\r\n\r\n")
    assert ok(data) == [(200, b"hello world", True)]


def test_chunked_hex_sizes():
    body = bytes(range(256)) * 2
    data = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"0000000000000FF\r\n" + body[:255] + b"\r\n"
            b"fF\r\n" + body[255:510] + b"\r\n"
            b"2\r\n" + body[510:] + b"\r\n000\r\n\r\n")
    assert ok(data) == [(200, body, True)]


def test_chunked_trailers():
    trailers = b"Checksum: 1234\r\nX-Other:\t v \r\nContent-Length: 999\r\n"
    data = chunked([b"abc"], trailers=trailers)
    assert ok(data) == [(200, b"abc", True)]


def test_chunked_many_chunks():
    chunks = [bytes([i % 256]) * (i % 7) for i in range(1, 3000)]
    chunks = [c for c in chunks if c]
    assert ok(chunked(chunks)) == [(200, b"".join(chunks), True)]


def test_chunked_transfer_coding_spelling():
    for value in (b"  CHunked \t", b"chunked,", b", chunked", b"\tchunked ,,"):
        data = chunked([b"abc"]).replace(b"Transfer-Encoding: chunked",
                                         b"transfer-encoding:" + value)
        assert ok(data) == [(200, b"abc", True)], value


def test_whitespace_after_chunk_size():
    data = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3 \r\nabc\r\n2\t;x\r\nde\r\n0 \t\r\n\r\n")
    assert ok(data) == [(200, b"abcde", True)]


def test_chunk_data_may_hold_crlf_and_chunk_syntax():
    chunks = [b"\r\n", b"0\r\n\r\n", b"HTTP/1.1 200 OK\r\n"]
    assert ok(chunked(chunks)) == [(200, b"".join(chunks), True)]


# -- read-to-close ----------------------------------------------------------------------------

def test_read_to_close_completed_only_by_eof():
    f = frame([b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n", b"part one, ", b"part two"])
    assert f.responses == [] and f.error is None
    f.feed_eof()
    assert f.error is None
    assert f.responses == [(200, b"part one, part two", False)]


def test_read_to_close_empty_body():
    assert ok(b"HTTP/1.1 200 OK\r\n\r\n", eof=True) == [(200, b"", False)]


def test_read_to_close_body_looks_like_responses():
    body = cl(b"abc") + cl(b"def")
    assert ok(b"HTTP/1.1 200 OK\r\n\r\n" + body, eof=True) == [(200, body, False)]


def test_read_to_close_after_pipelined_responses():
    data = cl(b"a") + chunked([b"b"]) + b"HTTP/1.1 500 Oops\r\nConnection: close\r\n\r\ntail"
    assert ok(data, eof=True) == [(200, b"a", True), (200, b"b", True), (500, b"tail", False)]


def test_eof_between_responses_is_clean():
    assert ok(cl(b"abc"), eof=True) == [(200, b"abc", True)]
    assert ok(b"", eof=True) == []


# -- keep-alive -------------------------------------------------------------------------------

@pytest.mark.parametrize("headers, expected", [
    (b"", False),
    (b"Connection: keep-alive\r\n", True),
    (b"Connection: Keep-Alive\r\n", True),
    (b"connection: other, KEEP-ALIVE\r\n", True),
    (b"Connection: close\r\n", False),
    (b"Connection: keep-alive, close\r\n", False),
    (b"Connection: keep-alive\r\nConnection: close\r\n", False),
    (b"Connection: keep-alive-please\r\n", False),
])
def test_http10_keep_alive_only_when_asked(headers, expected):
    assert ok(cl(b"abc", extra=headers, version=b"1.0")) == [(200, b"abc", expected)]


@pytest.mark.parametrize("headers, expected", [
    (b"", True),
    (b"Connection: keep-alive\r\n", True),
    (b"Connection: close\r\n", False),
    (b"Connection: CLOSE\r\n", False),
    (b"Connection: upgrade,  close \r\n", False),
    (b"Connection:\r\n", True),
    (b"Connection: closed\r\n", True),
    (b"X-Connection: close\r\n", True),
])
def test_http11_keep_alive_unless_close(headers, expected):
    assert ok(cl(b"abc", extra=headers)) == [(200, b"abc", expected)]


def test_http10_keep_alive_chunked():
    data = chunked([b"xy"]).replace(b"HTTP/1.1", b"HTTP/1.0")
    assert ok(data) == [(200, b"xy", False)]
    data = chunked([b"xy"], extra=b"Connection: keep-alive\r\n").replace(b"HTTP/1.1", b"HTTP/1.0")
    assert ok(data) == [(200, b"xy", True)]


def test_http10_read_to_close():
    data = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nbody"
    assert ok(data, eof=True) == [(200, b"body", False)]


def test_connection_close_still_frames_the_body():
    data = cl(b"abc", extra=b"Connection: close\r\n")
    assert ok(data) == [(200, b"abc", False)]


# -- no body: 1xx, 204, 304 -------------------------------------------------------------------

def test_interim_100_continue_then_200():
    data = b"HTTP/1.1 100 Continue\r\n\r\n" + cl(b"done")
    assert ok(data) == [(200, b"done", True)]


def test_several_interim_responses_are_skipped():
    data = (b"HTTP/1.1 100 Continue\r\n\r\n"
            b"HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n"
            b"HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 199 Whatever\r\nContent-Length: 0\r\n\r\n"
            + cl(b"done"))
    assert ok(data) == [(200, b"done", True)]


def test_interim_response_alone_delivers_nothing():
    f = frame(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert f.responses == [] and f.error is None and f.buffered == 0


def test_interim_response_has_no_body_whatever_its_headers():
    data = (b"HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\n"
            b"HTTP/1.1 103 Early\r\nTransfer-Encoding: chunked\r\n\r\n" + cl(b"ok"))
    assert ok(data) == [(200, b"ok", True)]


@pytest.mark.parametrize("status", [204, 304])
def test_no_content_and_not_modified_have_no_body(status):
    for extra in (b"", b"Content-Length: 1234\r\n", b"Transfer-Encoding: chunked\r\n"):
        data = b"HTTP/1.1 %d X\r\n" % status + extra + b"\r\n" + cl(b"next")
        assert ok(data) == [(status, b"", True), (200, b"next", True)]
    # no body and no wait for EOF either
    assert ok(b"HTTP/1.1 %d X\r\n\r\n" % status) == [(status, b"", True)]
    assert ok(b"HTTP/1.0 %d X\r\n\r\n" % status) == [(status, b"", False)]


# -- pipelining -------------------------------------------------------------------------------

def test_two_pipelined_responses():
    data = cl(b"one") + cl(b"two", status=201)
    assert ok(data) == [(200, b"one", True), (201, b"two", True)]


def test_three_pipelined_responses_of_each_kind():
    data = (chunked([b"a", b"bc"], trailers=b"T: 1\r\n") + b"HTTP/1.1 100 Continue\r\n\r\n"
            + b"HTTP/1.1 204 No Content\r\n\r\n"
            + cl(b"xyz", status=429, extra=b"Connection: close\r\n"))
    assert ok(data) == [(200, b"abc", True), (204, b"", True), (429, b"xyz", False)]


def test_pipelined_responses_then_a_partial_one():
    data = cl(b"one") + cl(b"two") + cl(b"three")
    f = frame(data[:-2])
    assert f.responses == [(200, b"one", True), (200, b"two", True)] and f.error is None
    f.feed(data[-2:])
    assert f.responses[-1] == (200, b"three", True) and f.buffered == 0


# -- every split gives the same result --------------------------------------------------------

SPLIT_STREAMS = {
    "content-length": (cl(b'{"code":"00000","data":[1,2]}', extra=b"Server: t\r\n"), False),
    "chunked": (chunked([b"ab", b"c" * 17, b"\r\n"], trailers=b"T: v\r\n")
                .replace(b"\r\n2\r\n", b"\r\n2;x=\"y\"\r\n"), False),
    "read-to-close": (b"HTTP/1.0 200 OK\r\nA: b\r\n\r\nuntil the end", True),
    "interim+204+pipelined": (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 N\r\n\r\n" + cl(b"x")
                              + chunked([b"y"]) + cl(b"", status=500), False),
    "pipelined then read-to-close":
        (cl(b"first") + b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nrest", True),
}


@pytest.mark.parametrize("name", SPLIT_STREAMS)
def test_every_split_gives_the_same_result(name):
    data, eof = SPLIT_STREAMS[name]
    expected = ok(data, eof=eof)
    assert expected
    for pieces in pieces_every_way(data):
        f = frame(pieces, eof=eof)
        assert f.error is None, (pieces, f.error)
        assert f.responses == expected, pieces
        assert f.buffered == 0


def test_every_split_of_an_error_gives_the_same_error():
    data = cl(b"fine") + b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx"
    whole = frame(data)
    assert "conflicting Content-Length" in str(whole.error)
    for pieces in pieces_every_way(data):
        f = frame(pieces)
        assert f.responses == [(200, b"fine", True)]
        assert str(f.error) == str(whole.error)
        assert whole.error.excerpt.startswith(f.error.excerpt)  # the excerpt: what had arrived


def test_every_split_of_a_response_waits_for_its_last_byte():
    data = chunked([b"abc", b"de"], trailers=b"X: y\r\n")
    for cut in range(len(data)):
        f = frame(data[:cut])
        assert f.responses == [] and f.error is None, cut
        f.feed(data[cut:])
        assert f.responses == [(200, b"abcde", True)]


# -- trickled: one byte per segment -----------------------------------------------------------
# A peer may send a response one byte per TCP segment. Each byte is one call of the framer;
# an incomplete head (or chunk-size line, or trailer line) must not be scanned again from its
# start on each call, or a 64 KiB head costs 2 G byte comparisons. (These complete well
# within the test timeout; tests/fuzz's C self-test counts the bytes scanned.)

def trickled(data: bytes, **kw) -> HttpFramer:
    f = HttpFramer(**kw)
    for i in range(len(data)):
        f.feed(data[i:i + 1])
    return f


def long_head(size: int) -> bytes:
    head = b"HTTP/1.1 200 OK\r\n"
    i = 0
    while len(head) < size - 64:
        head += b"X-%05d: v\r\n" % i
        i += 1
    return head + b"Content-Length: 2\r\n\r\n"


def test_head_of_almost_64_kib_one_byte_at_a_time():
    data = long_head(MAX_HEAD - 16)
    assert MAX_HEAD - 100 < len(data) <= MAX_HEAD
    f = trickled(data + b"ok" + cl(b"next"))
    assert f.error is None
    assert f.responses == [(200, b"ok", True), (200, b"next", True)] and f.buffered == 0


def test_one_header_value_of_almost_64_kib_one_byte_at_a_time():
    data = b"HTTP/1.1 200 OK\r\nX: " + b"v" * (MAX_HEAD - 64) + b"\r\nContent-Length: 2\r\n\r\nok"
    f = trickled(data)
    assert f.error is None and f.responses == [(200, b"ok", True)]


def test_endless_head_one_byte_at_a_time():
    data = b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * (MAX_HEAD // 6 + 10)
    f = trickled(data)
    assert "the reply's head is over 64 KiB (byte 65536 of the reply)" in str(f.error)


def test_long_chunk_size_lines_one_byte_at_a_time():
    line = b"00000000000001;" + b"e" * (MAX_CHUNK_LINE - 15)
    assert len(line) == MAX_CHUNK_LINE
    data = CHUNKED_HEAD + (line + b"\r\nx\r\n") * 12 + b"0;" + b"e" * 4000 + b"\r\n\r\n"
    f = trickled(data)
    assert f.error is None and f.responses == [(200, b"x" * 12, True)]


def test_trailer_line_of_almost_64_kib_one_byte_at_a_time():
    data = chunked([b"abc"], trailers=b"T: " + b"t" * (MAX_HEAD - 8) + b"\r\n")
    f = trickled(data)
    assert f.error is None and f.responses == [(200, b"abc", True)]
    data = chunked([b"abc"], trailers=b"T: v\r\n" * 5000)
    f = trickled(data)
    assert f.error is None and f.responses == [(200, b"abc", True)]


def test_chunk_size_line_of_exactly_the_limit_whatever_the_split():
    # regression: while the line arrived, it was refused once the buffered line (with its CR)
    # was over the limit, although the whole line is within it
    line = b"3;" + b"e" * (MAX_CHUNK_LINE - 2)
    data = CHUNKED_HEAD + line + b"\r\nabc\r\n0\r\n\r\n"
    end = len(CHUNKED_HEAD) + len(line)
    for pieces in ([data], [data[:end + 1], data[end + 1:]], [data[:end], data[end:]],
                   bytewise(data)):
        assert ok(pieces) == [(200, b"abc", True)]
    # a byte more before the CRLF: refused at that byte, however it arrives
    data = CHUNKED_HEAD + line + b"e\r\nabc\r\n0\r\n\r\n"
    for pieces in ([data], [data[:end + 1], data[end + 1:]], [data[:end + 2], data[end + 2:]]):
        err = refused(pieces, "chunk size line too long")
        assert f"(byte {end} of the reply)" in str(err)


def test_state_survives_the_buffer_being_compacted():
    # the response left incomplete after a whole one is moved to the buffer's start; its
    # scan state is kept in offsets from the response's first byte
    second = (b"HTTP/1.1 200 OK\r\nX-Long: " + b"l" * 3000 + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
              + b"5;" + b"e" * 3000 + b"\r\nhello\r\n0\r\nT: " + b"t" * 3000 + b"\r\n\r\n")
    data = GOOD + second + GOOD
    expected = [(200, b"good", True), (200, b"hello", True), (200, b"good", True)]
    for cut in list(range(len(GOOD) + 1, len(GOOD) + len(second), 97)):
        # the whole first response and part of the second in one piece, then byte by byte,
        # either from the received bytes (nothing buffered) or from the connection's buffer
        for first in ([data[:cut]], [data[:3], data[3:cut]]):
            f = frame(first + bytewise(data[cut:]))
            assert f.error is None and f.responses == expected, cut
            assert f.buffered == 0


def test_error_offsets_do_not_depend_on_the_split():
    # the offset is that of the offending byte, not of the end of what had arrived
    head = b"HTTP/1.1 200 OK\r\n\r\n"
    for pieces in ([head + b"z" * 150], [head, b"z" * 60, b"z" * 90], bytewise(head + b"z" * 101)):
        err = refused(pieces, "the reply's body is over the size limit", max_body=100)
        assert f"(byte {len(head) + 100} of the reply)" in str(err)
    trailer_head = CHUNKED_HEAD + b"3\r\nabc\r\n0\r\n"
    for pieces in ([trailer_head + b"X: " + b"t" * (MAX_HEAD + 10)],
                   [trailer_head] + in_pieces(b"X: " + b"t" * (MAX_HEAD + 10), 4096)):
        err = refused(pieces, "trailers are over 64 KiB")
        assert f"(byte {len(trailer_head) + MAX_HEAD} of the reply)" in str(err)


# -- large bodies -----------------------------------------------------------------------------

BIG = bytes((i * 7919) & 0xFF for i in range(1 << 20))


def in_pieces(data: bytes, size: int = 4096) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def test_one_megabyte_content_length_in_4k_pieces():
    assert ok(in_pieces(cl(BIG) + cl(b"after"))) == [(200, BIG, True), (200, b"after", True)]


def test_one_megabyte_chunked_in_4k_pieces():
    chunks = [BIG[i:i + 10000] for i in range(0, len(BIG), 10000)]
    expected = [(200, BIG, True), (200, b"after", True)]
    assert ok(in_pieces(chunked(chunks) + cl(b"after"))) == expected


def test_one_megabyte_read_to_close_in_4k_pieces():
    assert ok(in_pieces(b"HTTP/1.1 200 OK\r\n\r\n" + BIG), eof=True) == [(200, BIG, False)]


def test_body_of_exactly_max_body():
    assert ok(cl(b"x" * 100), max_body=100) == [(200, b"x" * 100, True)]
    body = b"x" * 60 + b"y" * 40
    assert ok(chunked([body[:60], body[60:]]), max_body=100) == [(200, body, True)]
    data = b"HTTP/1.1 200 OK\r\n\r\n" + b"z" * 100
    assert ok(data, eof=True, max_body=100) == [(200, b"z" * 100, False)]


def test_head_of_exactly_64_kib():
    start = b"HTTP/1.1 200 OK\r\nX-Pad: "
    end = b"\r\nContent-Length: 2\r\n\r\n"
    data = start + b"p" * (MAX_HEAD - len(start) - len(end)) + end
    assert len(data) == MAX_HEAD
    assert ok(data + b"ok") == [(200, b"ok", True)]
    assert ok(in_pieces(data + b"ok", 1000)) == [(200, b"ok", True)]


# -- errors -----------------------------------------------------------------------------------

GOOD = cl(b"good")
GOT_GOOD = [(200, b"good", True)]
CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize("data", [
    b"X", b"<", b"HTTP/2", b"HTTP/1.", b"HTTP/2 200 OK\r\n", b"http/1.1 200 OK\r\n", b"\r\n",
    b" HTTP/1.1",
    b"<html><body>502 Bad Gateway</body></html>", b"\x16\x03\x01\x02\x00",
])
def test_not_an_http1_status_line_is_refused_early(data):
    # refused as soon as a byte differs from "HTTP/1.", without waiting for a head's end
    if data.startswith(b"HTTP/1."):
        f = frame(data)
        assert f.error is None and f.responses == []
        refused(data, "the connection closed inside the reply's head", eof=True)
    else:
        refused(data, "does not start with an HTTP/1.0 or HTTP/1.1 status line")


@pytest.mark.parametrize("line", [b"HTTP/1.2 200 OK", b"HTTP/1.10 200 OK", b"HTTP/1.1\t200 OK",
                                  b"HTTP/1.1 200 OK\x00", b"HTTP/1.1 200 OK\rX"])
def test_bad_status_line(line):
    data = GOOD + line + b"\r\nContent-Length: 0\r\n\r\n"
    err = refused(data, "status line", delivered=GOT_GOOD)
    assert "the reply" in str(err)


@pytest.mark.parametrize("code", [b"2x0", b"20", b"2000", b"099", b"000", b"-20", b"+20", b"   ",
                                  b"20a", b" 200"])
def test_bad_status_code(code):
    data = b"HTTP/1.1 " + code + b" OK\r\nContent-Length: 0\r\n\r\n"
    why = "status line not ended by CRLF" if code == b"2000" else "bad status code"
    refused(data, why)
    refused(GOOD + data + GOOD, why, delivered=GOT_GOOD)


def test_obs_fold_is_refused():
    data = b"HTTP/1.1 200 OK\r\nX-Long: part one\r\n  part two\r\nContent-Length: 0\r\n\r\n"
    refused(data, "folded header line (obs-fold)")
    refused(data.replace(b"  part", b"\tpart"), "folded header line (obs-fold)")
    refused(GOOD + data, "obs-fold", delivered=GOT_GOOD)


@pytest.mark.parametrize("data, why", [
    (b"HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", "bad byte in the status line"),
    (b"HTTP/1.1 200\nContent-Length: 0\r\n\r\n", "status line not ended by CRLF"),
    (b"HTTP/1.1 200 OK\r\nX: a\nContent-Length: 0\r\n\r\n", "bad byte in a header value"),
    (b"HTTP/1.1 200 OK\r\nX: a\n\r\n\r\n", "bad byte in a header value"),
    (b"HTTP/1.1 200 OK\r\nX:\nY: b\r\n\r\n", "bad byte in a header value"),
    (b"HTTP/1.1 200 OK\r\nX\nY: b\r\n\r\n", "bad header name"),
    (b"HTTP/1.1 200 OK\r\nX: a\rContent-Length: 0\r\n\r\n", "header line not ended by CRLF"),
    (b"HTTP/1.1 200 OK\r\nX: a\r\rContent-Length: 0\r\n\r\n", "header line not ended by CRLF"),
    (b"HTTP/1.1 200 OK\r\nX: a\r\n\r\r\n\r\n", "bad header name"),
    (b"HTTP/1.1 200 OK\rContent-Length: 0\r\n\r\n", "status line not ended by CRLF"),
    (b"HTTP/1.1 200 OK\r\nX: \x00\r\n\r\n", "bad byte in a header value"),
    (b"HTTP/1.1 200 OK\r\nX: a\x7fb\r\n\r\n", "bad byte in a header value"),
    (b"HTTP/1.1 200 OK\r\nX: a\x1bb\r\n\r\n", "bad byte in a header value"),
])
def test_bare_lf_bare_cr_and_control_bytes_in_the_head(data, why):
    refused(data, why)
    refused(GOOD + data + GOOD, why, delivered=GOT_GOOD)


@pytest.mark.parametrize("line", [b"X Y: z", b"Content-Length : 0", b"X\t: z", b": empty name",
                                  b"X(y): z", b"X@: z", b"\xc3\xa9: z", b"X\x00: z", b"no colon"])
def test_bad_header_name(line):
    data = b"HTTP/1.1 200 OK\r\n" + line + b"\r\nContent-Length: 0\r\n\r\n"
    refused(data, "bad header name")
    refused(GOOD + data, "bad header name", delivered=GOT_GOOD)


def test_conflicting_content_length():
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\ncontent-length: 4\r\n\r\nabcd"
    refused(data, "conflicting Content-Length headers")
    refused(GOOD + data, "conflicting Content-Length", delivered=GOT_GOOD)


@pytest.mark.parametrize("value", [b"", b"abc", b"3a", b"-1", b"+3", b"0x3", b"3, 3", b"3 3",
                                   b"3.0", b"1" * 19, b"\xd9\xa3", b"\"3\""])
def test_bad_content_length(value):
    data = b"HTTP/1.1 200 OK\r\nContent-Length: " + value + b"\r\n\r\nabc"
    refused(data, "bad Content-Length")
    refused(GOOD + data, "bad Content-Length", delivered=GOT_GOOD)


def test_content_length_with_transfer_encoding():
    for head in (b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
                 b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n"):
        data = b"HTTP/1.1 200 OK\r\n" + head + b"\r\n3\r\nabc\r\n0\r\n\r\n"
        refused(data, "both Content-Length and Transfer-Encoding")
        refused(GOOD + data, "both Content-Length and Transfer-Encoding", delivered=GOT_GOOD)


@pytest.mark.parametrize("value", [b"gzip", b"gzip, chunked", b"chunked, gzip", b"deflate",
                                   b"identity", b"chunked;q=1", b"x-chunked", b"chunk"])
def test_unsupported_transfer_encoding(value):
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: " + value + b"\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    refused(data, "unsupported Transfer-Encoding in the reply (only chunked)")


@pytest.mark.parametrize("head", [b"Transfer-Encoding:\r\n", b"Transfer-Encoding:  \t\r\n",
                                  b"Transfer-Encoding: , ,\r\n",
                                  b"Transfer-Encoding:\r\nContent-Length: 3\r\n",
                                  b"Content-Length: 3\r\nTransfer-Encoding:\r\n",
                                  b"Transfer-Encoding:\r\nTransfer-Encoding: chunked\r\n"])
def test_empty_transfer_encoding(head):
    # regression: a Transfer-Encoding naming no coding was taken as absent, so with a
    # Content-Length the two framing headers were not refused together (llhttp refuses it)
    data = b"HTTP/1.1 200 OK\r\n" + head + b"\r\n3\r\nabc\r\n0\r\n\r\n"
    refused(data, "empty Transfer-Encoding in the reply")
    refused(GOOD + data + GOOD, "empty Transfer-Encoding", delivered=GOT_GOOD)


@pytest.mark.parametrize("head", [b"Transfer-Encoding: chunked, chunked\r\n",
                                  b"Transfer-Encoding: chunked,chunked\r\n",
                                  b"Transfer-Encoding: chunked\r\nTransfer-Encoding: CHUNKED\r\n"])
def test_chunked_twice(head):
    data = b"HTTP/1.1 200 OK\r\n" + head + b"\r\n3\r\nabc\r\n0\r\n\r\n"
    refused(data, "Transfer-Encoding chunked given twice")
    refused(GOOD + data, "chunked given twice", delivered=GOT_GOOD)


@pytest.mark.parametrize("value", [b"gzip", b"br", b"deflate", b"identity, gzip", b"GZIP"])
def test_content_encoding_is_refused(value):
    data = b"HTTP/1.1 200 OK\r\nContent-Encoding: " + value + b"\r\nContent-Length: 3\r\n\r\nabc"
    refused(data, "compressed reply (Content-Encoding) is not supported")


def test_head_over_64_kib():
    start = b"HTTP/1.1 200 OK\r\nX-Pad: "
    end = b"\r\nContent-Length: 2\r\n\r\n"
    data = start + b"p" * (MAX_HEAD + 1 - len(start) - len(end)) + end
    assert len(data) == MAX_HEAD + 1
    refused(data + b"ok", "the reply's head is over 64 KiB")
    refused(in_pieces(data + b"ok", 4096), "the reply's head is over 64 KiB")
    # without an end at all: refused once 64 KiB are buffered, not later
    endless = start + b"p" * (2 * MAX_HEAD)
    f = frame(in_pieces(endless[:MAX_HEAD - 1], 4096))
    assert f.error is None
    refused(in_pieces(endless[:MAX_HEAD], 4096), "over 64 KiB")
    refused(GOOD + data, "over 64 KiB", delivered=GOT_GOOD)


def test_body_over_max_body_content_length():
    # refused from the head: the body is never waited for
    refused(cl(b"x" * 101)[:-101], "the reply's Content-Length is over the size limit",
            max_body=100)
    refused(b"HTTP/1.1 200 OK\r\nContent-Length: 999999999999999999\r\n\r\n",
            "Content-Length is over the size limit")
    refused(GOOD + cl(b"x" * 101), "over the size limit", max_body=100, delivered=GOT_GOOD)


def test_body_over_max_body_chunked():
    refused(chunked([b"x" * 101]), "chunk size over the size limit", max_body=100)
    refused(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff",
            "chunk size over the size limit")
    refused(chunked([b"x" * 60, b"y" * 41]), "the reply's body is over the size limit",
            max_body=100)
    refused(chunked([b"x"] * 101), "body is over the size limit", max_body=100)


# The raw bytes of a chunked body (chunk-size lines, extensions, data, CRLFs, up to the end of
# the last-chunk line) are bounded by 2 * max_body + BF_HTTP_CHUNKED_SLACK, not only the body.
CHUNKED_SLACK = MAX_HEAD
CHUNKED_OVER = "the reply's chunked body (with its chunk lines) is over the size limit"


def raw_limit(max_body: int) -> int:
    return 2 * max_body + CHUNKED_SLACK


def chunked_over_at(raw: bytes, max_body: int) -> int | None:
    """Where the framer refuses the chunks ``raw`` (after CHUNKED_HEAD) for their raw size: at
    the first byte of a chunk-size line past the limit, or at the line of a chunk whose data
    and CRLF would end past it; None if within."""
    limit, pos = raw_limit(max_body), 0
    while True:
        eol = raw.index(b"\r\n", pos) + 2
        if eol > limit:
            return len(CHUNKED_HEAD) + limit
        size = int(raw[pos:eol].split(b";")[0].strip(), 16)
        if size == 0:
            return None
        if eol + size + 2 > limit:
            return len(CHUNKED_HEAD) + pos
        pos = eol + size + 2


def test_chunked_raw_size_tiny_chunks_with_long_extensions():
    # regression: only the de-chunked size was bounded, so 1-byte chunks with 4 KiB chunk
    # lines made the connection buffer ~4 KiB per body byte (70 KB for 17 bytes here)
    line = b"1;" + b"e" * (MAX_CHUNK_LINE - 2)
    raw = (line + b"\r\nx\r\n") * 17 + b"0\r\n"
    assert len(raw) > raw_limit(100)
    at = chunked_over_at(raw, 100)
    assert at == len(CHUNKED_HEAD) + raw_limit(100)   # inside the 17th chunk-size line
    err = refused(CHUNKED_HEAD + raw + b"\r\n", CHUNKED_OVER, max_body=100)
    assert f"(byte {at} of the reply)" in str(err)
    # refused while it arrives, not at its end
    refused([CHUNKED_HEAD] + in_pieces(raw[:at - len(CHUNKED_HEAD) + 1], 1000), CHUNKED_OVER,
            max_body=100)
    # the same within a larger limit
    assert ok(CHUNKED_HEAD + raw + b"\r\n", max_body=4000) == [(200, b"x" * 17, True)]


def test_chunked_raw_size_many_one_byte_chunks():
    body = bytes(range(256)) * 75
    raw = chunked([body[i:i + 1] for i in range(len(body))])[len(CHUNKED_HEAD):-2]
    max_body = len(body) + 800     # the body is within max_body, its 6 raw bytes per byte not
    at = chunked_over_at(raw, max_body)
    assert at is not None
    err = refused(CHUNKED_HEAD + raw + b"\r\n", CHUNKED_OVER, max_body=max_body)
    assert f"(byte {at} of the reply)" in str(err)
    assert ok(CHUNKED_HEAD + raw + b"\r\n", max_body=3 * len(body)) == [(200, body, True)]


def test_chunked_raw_size_at_the_limit():
    line = b"1;" + b"e" * (MAX_CHUNK_LINE - 2)
    chunks = (line + b"\r\nx\r\n") * 16
    last = b"0;" + b"e" * (raw_limit(100) - len(chunks) - 4) + b"\r\n"
    assert len(chunks + last) == raw_limit(100)
    assert ok(CHUNKED_HEAD + chunks + last + b"\r\n", max_body=100) == [(200, b"x" * 16, True)]
    # a byte more: the last-chunk line's LF is the first byte over the limit
    data = CHUNKED_HEAD + chunks + last[:2] + b"e" + last[2:] + b"\r\n"
    err = refused(data, CHUNKED_OVER, max_body=100)
    assert f"(byte {len(CHUNKED_HEAD) + raw_limit(100)} of the reply)" in str(err)
    # a chunk whose data would end past the limit: refused at its chunk-size line, before
    # its data arrives
    big = b"54;" + b"e" * 40 + b"\r\n"
    data = CHUNKED_HEAD + chunks + big + b"y" * 0x54 + b"\r\n0\r\n\r\n"
    at = len(CHUNKED_HEAD) + len(chunks)
    assert chunked_over_at(data[len(CHUNKED_HEAD):], 100) == at
    err = refused(data, CHUNKED_OVER, max_body=100)
    assert f"(byte {at} of the reply)" in str(err)
    refused(data[:at + len(big)], CHUNKED_OVER, max_body=100)


def test_chunked_body_of_max_body_in_small_chunks_is_accepted():
    # framing as large as the data is within the limit: 13 raw bytes per 8 body bytes
    body = BIG[:80000]
    chunks = [body[i:i + 8] for i in range(0, len(body), 8)]
    assert ok(chunked(chunks), max_body=len(body)) == [(200, body, True)]
    assert ok(chunked([b"x"] * 100), max_body=100) == [(200, b"x" * 100, True)]


def test_body_over_max_body_read_to_close():
    head = b"HTTP/1.1 200 OK\r\n\r\n"
    # refused while the body arrives, before the connection ends
    refused([head, b"z" * 60, b"z" * 41], "the reply's body is over the size limit", max_body=100)
    refused(head + b"z" * 101, "the reply's body is over the size limit", max_body=100)


@pytest.mark.parametrize("line", [b"zz", b"", b" 3", b"-3", b";ext", b"g", b"\t3", b"+3"])
def test_chunk_size_not_hex(line):
    data = CHUNKED_HEAD + line + b"\r\nabc\r\n0\r\n\r\n"
    refused(data, "bad chunk size in the reply")
    refused(GOOD + data + GOOD, "bad chunk size", delivered=GOT_GOOD)


@pytest.mark.parametrize("line", [b"3x", b"0x3", b"3 3", b"3,ext", b"3=", b"0 0", b"3\"a\"",
                                  b"3 x"])
def test_chunk_size_followed_by_junk(line):
    # regression: a size's hex digits followed by anything but whitespace and ';' were taken
    # as the size and an ignored extension ("0x3": the last chunk; "3 3": 3)
    data = CHUNKED_HEAD + line + b"\r\nabc\r\n0\r\n\r\n"
    refused(data, "bad chunk size line")
    refused(GOOD + data + GOOD, "bad chunk size line", delivered=GOT_GOOD)


@pytest.mark.parametrize("line", [b"3;a\x00", b"3;a\nb", b"3\n", b"3;\x7f"])
def test_chunk_extension_with_control_bytes(line):
    data = CHUNKED_HEAD + line + b"\r\nabc\r\n0\r\n\r\n"
    refused(data, "bad chunk size line")


def test_chunk_size_line_not_ended_by_crlf():
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\rabc\r\n0\r\n\r\n"
    refused(data, "chunk size line not ended by CRLF")


@pytest.mark.parametrize("after", [b"X\r\n0\r\n\r\n", b"\n0\r\n\r\n", b"\r0\r\n\r\n",
                                   b"\r\r\n0\r\n\r\n", b"d\r\n0\r\n\r\n"])
def test_chunk_data_not_followed_by_crlf(after):
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc" + after
    refused(data, "chunk data not followed by CRLF")
    refused(GOOD + data, "chunk data not followed by CRLF", delivered=GOT_GOOD)


def test_chunk_size_line_too_long():
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    line = b"3;" + b"e" * 5000
    refused(head + line + b"\r\nabc\r\n0\r\n\r\n", "chunk size line too long")
    # still arriving, without its CR: refused once past the limit, not at the connection's end
    refused([head] + in_pieces(line, 100), "chunk size line too long")
    ok_line = b"3;" + b"e" * 4000
    assert ok(head + ok_line + b"\r\nabc\r\n0\r\n\r\n") == [(200, b"abc", True)]


def test_chunk_size_with_too_many_digits():
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert ok(head + b"0" * 14 + b"3\r\nabc\r\n0\r\n\r\n") == [(200, b"abc", True)]
    refused(head + b"0" * 15 + b"3\r\nabc\r\n0\r\n\r\n", "chunk size over the size limit")


@pytest.mark.parametrize("trailers, why", [
    (b"X: a\r\n b\r\n", "obs-fold"),
    (b"X: a\n", "bad byte in a header value"),
    (b"X y: a\r\n", "bad header name"),
    (b"\rX", "trailer section not ended by CRLF"),
    (b"X: a\rb\r\n", "header line not ended by CRLF"),
])
def test_bad_trailers(trailers, why):
    data = CHUNKED_HEAD + b"3\r\nabc\r\n0\r\n" + trailers + b"\r\n"
    refused(data, why)
    refused(GOOD + data + GOOD, why, delivered=GOT_GOOD)


def test_trailers_over_64_kib():
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n"
    refused(head + b"X: " + b"t" * MAX_HEAD + b"\r\n\r\n", "the reply's trailers are over 64 KiB")
    refused([head] + in_pieces(b"X: " + b"t" * (MAX_HEAD + 10), 4096), "trailers are over 64 KiB")
    many = b"".join(b"T%d: v\r\n" % i for i in range(MAX_HEAD // 8))
    refused(head + many + b"\r\n", "trailers are over 64 KiB")


@pytest.mark.parametrize("cut, why", [
    (b"H", "the connection closed inside the reply's head"),
    (b"HTTP/1.1 200 OK", "inside the reply's head"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r", "inside the reply's head"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
     "the connection closed inside the reply's body"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabcd", "inside the reply's body"),
    (CHUNKED_HEAD, "the connection closed inside a chunked reply"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5", "inside a chunked reply"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "inside a chunked reply"),
    (CHUNKED_HEAD + b"5\r\nabcde\r", "inside a chunked reply"),
    (CHUNKED_HEAD + b"5\r\nabcde\r\n0\r\n", "inside a chunked reply"),
    (CHUNKED_HEAD + b"0\r\nX: y\r\n", "inside a chunked reply"),
    (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 2", "inside the reply's head"),
])
def test_connection_closed_inside_a_response(cut, why):
    refused(cut, why, eof=True)
    refused(GOOD + cut, why, eof=True, delivered=GOT_GOOD)
    refused([GOOD, cut], why, eof=True, delivered=GOT_GOOD)


def test_switching_protocols_is_refused():
    data = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    refused(data, "unexpected 101 Switching Protocols")
    refused(GOOD + data + GOOD, "101 Switching Protocols", delivered=GOT_GOOD)


def test_error_names_offset_and_keeps_an_excerpt():
    err = refused(GOOD + b"HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n", "bad Content-Length",
                  delivered=GOT_GOOD)
    assert "(byte 35 of the reply)" in str(err)   # offset within the bad response
    assert err.excerpt.startswith(b"x\r\n\r\n")


def test_nothing_is_framed_after_an_error():
    f = frame(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n")
    err = f.error
    assert isinstance(err, ProtocolError)
    for data in (GOOD, GOOD * 3, b"HTTP/1.1 200 OK\r\n\r\nbody", b"junk"):
        f.feed(data)
    f.feed_eof()
    assert f.responses == [] and f.error is err and f.buffered == 0


def test_error_discards_what_was_buffered():
    f = frame([GOOD, b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", b"\r\n"])
    assert f.error is None and f.buffered > 0
    f.feed_eof()
    assert "inside the reply's body" in str(f.error)
    assert f.responses == [(200, b"good", True)] and f.buffered == 0
