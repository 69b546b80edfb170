"""Both order books against real Bitget data and protocol 7.1-7.2: the same tests, two implementations.

Every test that takes the ``Book`` fixture runs once with the plain-Python oracle
(``sim/reference.py``) and once with the compiled :class:`bitget_fast.OrderBook`
(uvloop's model: one suite, two implementations). Expected values come from
tests/fixtures/SOURCES.md and the protocol reference sections 7.1-7.2; the semantics
under test are DECISIONS.md sections 2 and 3.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import orjson
import pytest

from bitget_fast.errors import (BookIntegrityError, ChecksumMismatch, CrossedBook, ProtocolError,
                               SequenceGap)
from bitget_fast.book import OrderBook
from bitget_fast.sim import reference
from bitget_fast.sim.reference import checksum


class CompiledBook(OrderBook):
    """The compiled book with the reference's reading surface (all levels as properties)."""

    bids = property(OrderBook.bids)
    asks = property(OrderBook.asks)

    def apply(self, raw):
        return OrderBook.apply(self, orjson.dumps(raw) if isinstance(raw, dict) else raw)


@pytest.fixture(params=["reference", "compiled"])
def Book(request):
    return reference.Book if request.param == "reference" else CompiledBook

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
REAL = FIXTURES / "real"
DOCS = FIXTURES / "docs-examples"

# SOURCES.md section A: frames, snapshot checksum, last frame's ts and checksum,
# final best bid, final best ask, final (bid, ask) depth.
RECORDED = {
    "DASHUSDT": (98, -139104234, "1649290107445", 1597278650,
                 ("113.28", "174.25"), ("113.33", "9.06"), (86, 100)),
    "UNIUSDT": (96, -1083951925, "1649290107394", 1677844646,
                ("9.966", "344"), ("9.971", "225"), (112, 92)),
}

# Protocol reference section 7.1, verbatim (synthetic; checksums worked out in section 7.2).
SNAPSHOT_71 = b"""{"action":"snapshot",
 "arg":{"instType":"USDT-FUTURES","channel":"books","instId":"BTCUSDT"},
 "data":[{"asks":[["27000.5","8.760"],["27001.0","0.400"],["27002.5","1.000"]],
          "bids":[["27000.0","2.710"],["26999.5","1.460"]],
          "checksum":1268064908,"seq":123,"ts":"1695716059516"}],
 "ts":1695716059516}"""
UPDATE_71 = b"""{"action":"update",
 "arg":{"instType":"USDT-FUTURES","channel":"books","instId":"BTCUSDT"},
 "data":[{"asks":[["27000.5","0"],["27001.5","0.250"]],
          "bids":[["27000.0","3.000"],["26998.0","0.500"]],
          "checksum":-1014705269,"seq":124,"ts":"1695716059666"}],
 "ts":1695716059670}"""


def jsonl_frames(symbol: str) -> list[bytes]:
    return (REAL / f"bitget_v1_mix_books_{symbol}.jsonl").read_bytes().splitlines()


def cryptofeed_frames(symbol: str) -> list[bytes]:
    """The symbol's ``books`` pushes, out of ``<epoch>: <frame>`` lines.

    The header line and the one sent frame start with the stream URL instead of an epoch.
    """
    frames = []
    for line in (REAL / "cryptofeed_BITGET.ws.2.0.txt").read_bytes().splitlines():
        stamp, _, frame = line.partition(b": ")
        if not stamp.replace(b".", b"", 1).isdigit():
            continue
        msg = orjson.loads(frame)
        arg = msg.get("arg", {})
        if "data" in msg and arg.get("channel") == "books" and arg.get("instId") == symbol:
            frames.append(frame)
    return frames


def state(book) -> tuple:
    return (book.bids, book.asks, book.seq, book.is_valid, book.seq_jumps,
            book.checksums_verified, book.checksums_skipped, book.dropped_updates,
            book.absent_deletes)


# -- real recordings -------------------------------------------------------------------------

@pytest.mark.parametrize("read", [jsonl_frames, cryptofeed_frames], ids=["jsonl", "cryptofeed"])
@pytest.mark.parametrize("symbol", sorted(RECORDED))
def test_recording_replays_with_every_checksum_verified(Book, symbol, read):
    count, snapshot_ck, last_ts, last_ck, best_bid, best_ask, depth = RECORDED[symbol]
    frames = read(symbol)
    assert len(frames) == count
    book = Book(symbol)
    for i, frame in enumerate(frames):
        book.apply(frame)
        if i == 0:
            assert book.checksum() == snapshot_ck
    first, last = orjson.loads(frames[0]), orjson.loads(frames[-1])
    assert first["action"] == "snapshot" and first["data"][0]["checksum"] == snapshot_ck
    assert last["data"][0]["ts"] == last_ts and last["data"][0]["checksum"] == last_ck
    assert book.checksum() == last_ck
    assert (book.checksums_verified, book.checksums_skipped) == (count, 0)
    assert book.is_valid and book.seq is None
    assert (book.seq_jumps, book.dropped_updates) == (0, 0)
    assert (book.best_bid, book.best_ask, book.depth) == (best_bid, best_ask, depth)


@pytest.mark.parametrize("symbol", sorted(RECORDED))
def test_cryptofeed_recording_holds_the_jsonl_frames(symbol):
    assert cryptofeed_frames(symbol) == jsonl_frames(symbol)


def _float_text(text: str) -> str:
    return str(float(text))  # what a float-based book prints: "6.40" -> "6.4", "67" -> "67.0"


@pytest.mark.parametrize("symbol", sorted(RECORDED))
def test_float_reformatted_strings_fail_every_frame(Book, symbol):
    frames = jsonl_frames(symbol)
    book = Book(symbol)
    failures = 0
    for frame in frames:
        book.apply(frame)
        refloated = [[(_float_text(p), _float_text(s)) for p, s in side[:25]]
                     for side in (book.bids, book.asks)]
        failures += checksum(*refloated) != book.checksum()
    assert failures == len(frames)

    snapshot = orjson.loads(frames[0])
    for side in ("bids", "asks"):
        levels = snapshot["data"][0][side]
        levels[:] = [[_float_text(p), _float_text(s)] for p, s in levels]
    with pytest.raises(ChecksumMismatch):
        Book(symbol).apply(snapshot)


# -- V2-shaped and documented examples -------------------------------------------------------

@pytest.mark.parametrize("parse", [bytes, orjson.loads], ids=["bytes", "dict"])
def test_v2_nautilus_snapshot_then_update(Book, parse):
    book = Book("BTCUSDT")
    book.apply(parse((DOCS / "nautilus_pr3782_ws_public_depth_snapshot.json").read_bytes()))
    assert (book.checksum(), book.seq) == (1431635978, 1001)
    book.apply(parse((DOCS / "nautilus_pr3782_ws_public_depth_update.json").read_bytes()))
    assert (book.checksum(), book.seq) == (1212953002, 1002)
    assert book.best_bid == ("100.10", "1.20")
    assert book.best_ask == ("100.50", "0.80")
    assert book.bids == [("100.10", "1.20"), ("100.00", "1.50"), ("99.00", "3.25")]
    assert book.asks == [("100.50", "0.80"), ("101.00", "2.50"), ("101.50", "1.75"),
                         ("102.00", "1.10")]
    assert (book.checksums_verified, book.seq_jumps, book.is_valid) == (2, 0, True)


SNAPSHOT_71_BIDS = [("27000.0", "2.710"), ("26999.5", "1.460")]
SNAPSHOT_71_ASKS = [("27000.5", "8.760"), ("27001.0", "0.400"), ("27002.5", "1.000")]
UPDATED_71_BIDS = [("27000.0", "3.000"), ("26999.5", "1.460"), ("26998.0", "0.500")]
UPDATED_71_ASKS = [("27001.0", "0.400"), ("27001.5", "0.250"), ("27002.5", "1.000")]


@pytest.mark.parametrize("bids, asks, text, unsigned, signed", [
    pytest.param([("43231.1", "4"), ("43231", "6")], [("43232.8", "9"), ("43232.9", "8")],
                 "43231.1:4:43232.8:9:43231:6:43232.9:8", 2790465500, -1504501796,
                 id="doc-example"),
    pytest.param([("3366.1", "7")], [("3366.8", "9"), ("3368", "8"), ("3372", "8")],
                 "3366.1:7:3366.8:9:3368:8:3372:8", 831078360, 831078360,
                 id="bid-side-shorter"),
    pytest.param(SNAPSHOT_71_BIDS, SNAPSHOT_71_ASKS,
                 "27000.0:2.710:27000.5:8.760:26999.5:1.460:27001.0:0.400:27002.5:1.000",
                 1268064908, 1268064908, id="snapshot"),
    pytest.param(UPDATED_71_BIDS, UPDATED_71_ASKS,
                 "27000.0:3.000:27001.0:0.400:26999.5:1.460:27001.5:0.250:26998.0:0.500:"
                 "27002.5:1.000", 3280262027, -1014705269, id="after-update"),
    pytest.param(UPDATED_71_BIDS, [("27001.0", "0.4")] + UPDATED_71_ASKS[1:],
                 "27000.0:3.000:27001.0:0.4:26999.5:1.460:27001.5:0.250:26998.0:0.500:"
                 "27002.5:1.000", 1017850131, 1017850131, id="normalized-wrong"),
    pytest.param([("1", "2")], [], "1:2", 932632908, 932632908, id="asks-empty"),
    pytest.param([], [], "", 0, 0, id="empty"),
])
def test_protocol_checksum_table(bids, asks, text, unsigned, signed):
    assert zlib.crc32(text.encode()) == unsigned
    assert checksum(bids, asks) == signed


def test_checksum_uses_only_the_top_25_levels():
    bids = [(str(1000 - i), "1") for i in range(30)]
    asks = [(str(2000 + i), "2.0") for i in range(27)]
    assert checksum(bids, asks) == checksum(bids[:25], asks[:25])
    assert checksum(bids, asks) != checksum(bids[:24], asks[:25])


def test_protocol_example_messages_through_the_book(Book):
    book = Book("BTCUSDT")
    book.apply(SNAPSHOT_71)
    assert (book.bids, book.asks, book.seq) == (SNAPSHOT_71_BIDS, SNAPSHOT_71_ASKS, 123)
    book.apply(UPDATE_71)
    assert (book.bids, book.asks, book.seq) == (UPDATED_71_BIDS, UPDATED_71_ASKS, 124)
    assert (book.checksum(), book.checksums_verified, book.is_valid) == (-1014705269, 2, True)

    book.apply(SNAPSHOT_71)
    normalized = UPDATE_71.replace(b'["27001.5","0.250"]',
                                   b'["27001.0","0.4"],["27001.5","0.250"]')
    with pytest.raises(ChecksumMismatch) as err:
        book.apply(normalized)
    assert "books BTCUSDT seq 124" in str(err.value)
    assert "-1014705269" in str(err.value) and "1017850131" in str(err.value)


def books5_push() -> dict:
    text = (DOCS / "bitgetnet_futures_ws_books5.txt").read_text()
    pushed = text.partition("\n=")[2].partition("\n")[2]  # after the "= " line
    return orjson.loads(pushed)


def test_books5_docs_example_with_checksum_0_is_skipped(Book):
    book = Book("BTCUSDT")
    book.apply(books5_push())
    assert (book.checksums_skipped, book.checksums_verified) == (1, 0)
    assert book.is_valid and book.seq is None and book.depth == (2, 2)
    assert (book.best_bid, book.best_ask) == (("27000.0", "2.710"), ("27000.5", "8.760"))

    replaced = books5_push()
    replaced["action"] = "update"  # books5 pushes are full snapshots whatever the action says
    replaced["data"][0].update(bids=[["26999.0", "1"]], asks=[],
                               checksum=checksum([("26999.0", "1")], []))
    book.apply(replaced)
    assert (book.bids, book.asks) == ([("26999.0", "1")], [])
    assert (book.checksums_skipped, book.checksums_verified) == (1, 1)


# -- sequence and checksum rules on small books ----------------------------------------------

BID = ("100.0", "1.0")
ASK = ("101.0", "2.0")


def push(action, bids=(), asks=(), *, after=None, channel="books", inst_id="BTCUSDT", **data):
    """A book message whose checksum is that of ``after`` (bids, asks), or of its own levels."""
    bids_after, asks_after = after or (bids, asks)
    entry = {"bids": [list(level) for level in bids], "asks": [list(level) for level in asks],
             "checksum": checksum(bids_after, asks_after), "ts": "1700000000000"}
    entry.update(data)
    return orjson.dumps({"action": action, "arg": {"instType": "USDT-FUTURES",
                         "channel": channel, "instId": inst_id}, "data": [entry]})


def snapshot(**data):
    return push("snapshot", [BID], [ASK], **data)


def bid_size(size, **data):
    """An update setting the bid at 100.0 to ``size``."""
    return push("update", [("100.0", size)], after=([("100.0", size)], [ASK]), **data)


def test_pseq_chain_and_string_numbers(Book):
    book = Book("BTCUSDT", strict_seq=True)
    book.apply(snapshot(seq="10"))
    assert book.seq == 10
    book.apply(bid_size("2.0", pseq=10, seq=11))
    book.apply(bid_size("3.0", pseq="11", seq="12"))
    assert (book.seq, book.best_bid, book.checksums_verified) == (12, ("100.0", "3.0"), 3)


def test_pseq_mismatch_is_a_gap_and_the_update_stays(Book):
    book = Book("BTCUSDT")
    book.apply(snapshot(seq=10))
    with pytest.raises(SequenceGap) as err:
        book.apply(bid_size("2.0", pseq=9, seq=11))
    assert "pseq 9" in str(err.value) and "seq 10" in str(err.value)
    assert err.value.channel == "books"
    assert (book.best_bid, book.seq, book.is_valid) == (("100.0", "2.0"), 11, False)


@pytest.mark.parametrize("seq", [10, 9, "10"])
def test_stale_seq_is_a_gap(Book, seq):
    book = Book("BTCUSDT")
    book.apply(snapshot(seq=10))
    with pytest.raises(SequenceGap, match="stale or replayed"):
        book.apply(bid_size("2.0", seq=seq))
    assert not book.is_valid


def test_seq_jump_counted_by_default_and_a_gap_when_strict(Book):
    lenient, strict = Book("BTCUSDT"), Book("BTCUSDT", strict_seq=True)
    for book in (lenient, strict):
        book.apply(snapshot(seq=10))
        book.apply(bid_size("2.0", seq="11"))
    lenient.apply(bid_size("3.0", seq=13))
    assert (lenient.seq, lenient.seq_jumps, lenient.is_valid) == (13, 1, True)
    with pytest.raises(SequenceGap, match="from 11 to 13"):
        strict.apply(bid_size("3.0", seq=13))
    assert (strict.seq, strict.best_bid, strict.is_valid) == (13, ("100.0", "3.0"), False)


def test_checksum_mismatch_keeps_the_update_and_drops_until_a_snapshot(Book):
    book = Book("BTCUSDT")
    book.apply(bid_size("9.0"))  # before any snapshot: dropped
    assert (book.dropped_updates, book.depth) == (1, (0, 0))
    book.apply(snapshot(seq=10))
    with pytest.raises(ChecksumMismatch) as err:
        book.apply(bid_size("2.0", seq=11, checksum=12345))
    message = str(err.value)
    assert "books BTCUSDT seq 11" in message and "12345" in message
    assert str(book.checksum()) in message and err.value.channel == "books"
    assert (book.best_bid, book.seq, book.is_valid) == (("100.0", "2.0"), 11, False)

    book.apply(bid_size("3.0", seq=12))
    assert (book.best_bid, book.seq, book.dropped_updates) == (("100.0", "2.0"), 11, 2)

    book.apply(snapshot(seq=20))
    assert (book.best_bid, book.seq, book.is_valid) == (BID, 20, True)
    book.apply(bid_size("4.0", seq=21))
    assert (book.best_bid, book.is_valid) == (("100.0", "4.0"), True)


def test_checksum_0_on_an_update_is_verified_and_wrong_on_a_snapshot_is_caught(Book):
    book = Book("BTCUSDT")
    book.apply(snapshot(checksum=0))
    assert book.checksums_skipped == 1
    with pytest.raises(ChecksumMismatch):
        book.apply(bid_size("2.0", checksum=0))
    with pytest.raises(ChecksumMismatch):
        book.apply(snapshot(checksum=1))
    assert book.bids == [BID] and not book.is_valid


def test_zero_sizes_delete_and_absent_deletes_are_counted(Book):
    book = Book("BTCUSDT")
    book.apply(push("snapshot", [BID, ("99.5", "1")], [ASK]))
    book.apply(push("update", [("99.0", "0"), ("100.0", "0.000")], [("105", "0")],
                    after=([("99.5", "1")], [ASK])))
    assert (book.bids, book.asks) == ([("99.5", "1")], [ASK])
    assert (book.absent_deletes, book.checksums_verified, book.is_valid) == (2, 2, True)


# -- malformed input ---------------------------------------------------------------------------

def _mutated(change) -> bytes:
    msg = orjson.loads(bid_size("5.0", seq=11))
    change(msg)
    return orjson.dumps(msg)


def _bad_level(level):
    # a valid level first: the book must not take it either
    return _mutated(lambda m: m["data"][0].update(bids=[["100.0", "5.0"], level]))


MALFORMED = {
    "not-json": b'{"action":"update","arg":',
    "not-an-object": b"[1, 2]",
    "missing-data": _mutated(lambda m: m.pop("data")),
    "empty-data": _mutated(lambda m: m.update(data=[])),
    "missing-arg": _mutated(lambda m: m.pop("arg")),
    "wrong-instId": _mutated(lambda m: m["arg"].update(instId="ETHUSDT")),
    "not-a-book-channel": _mutated(lambda m: m["arg"].update(channel="trade")),
    "unknown-action": _mutated(lambda m: m.update(action="delta")),
    "seq-not-integer": _mutated(lambda m: m["data"][0].update(seq=11.5)),
    "seq-junk-string": _mutated(lambda m: m["data"][0].update(seq="11a")),
    "checksum-bool": _mutated(lambda m: m["data"][0].update(checksum=True)),
    "level-single": _bad_level(["100.5"]),
    "level-triple": _bad_level(["100.5", "1", "2"]),
    "level-not-list": _bad_level("100.5"),
    "bad-decimal": _bad_level(["1.2.3", "1"]),
    "negative-size": _bad_level(["100.5", "-1"]),
    "empty-price": _bad_level(["", "1"]),
    "number-price": _bad_level([100.5, "1"]),
    "number-size": _bad_level(["100.5", 1]),
    "exponent": _bad_level(["1e2", "1"]),
    "zero-price": _bad_level(["0.0", "1"]),
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_message_leaves_the_book_unchanged(Book, raw):
    book = Book("BTCUSDT")
    book.apply(snapshot(seq=10))
    before = state(book)
    with pytest.raises(ProtocolError) as err:
        book.apply(raw)
    assert type(err.value) is ProtocolError
    assert "BTCUSDT" in str(err.value) and "book unchanged" in str(err.value)
    assert err.value.excerpt
    assert state(book) == before
    book.apply(bid_size("6.0", seq=11))  # still usable
    assert book.best_bid == ("100.0", "6.0")


def test_not_json_reports_the_byte_offset(Book):
    with pytest.raises(ProtocolError) as err:
        Book("BTCUSDT").apply('{"é": nope}')
    assert err.value.offset == 7 and b"nope" in err.value.excerpt
    with pytest.raises(TypeError):
        Book("BTCUSDT").apply(12)


def test_published_error_frames_are_rejected(Book):
    lines = (REAL / "errors_published.txt").read_bytes().splitlines()
    assert len(lines) == 9
    not_json = []
    for number, line in enumerate(lines, 1):
        book = Book("BTCUSDT")
        book.apply(snapshot())
        before = state(book)
        with pytest.raises(ProtocolError) as err:
            book.apply(line)
        assert state(book) == before
        assert err.value.offset is not None or Book is reference.Book
        if "not JSON" in str(err.value):
            not_json.append(number)
    # Python repr, JS literal, "pong" (SOURCES.md section D): rejected as not JSON.
    assert not_json == [5, 6, 9]


def test_crossed_book_is_an_integrity_error_and_recovers_on_a_snapshot(Book):
    book = Book("BTCUSDT")
    book.apply(snapshot(seq=10))
    crossing = push("update", [("101.5", "1")], after=([("101.5", "1"), BID], [ASK]), seq=11)
    with pytest.raises(CrossedBook) as err:
        book.apply(crossing)
    assert isinstance(err.value, BookIntegrityError) and err.value.channel == "books"
    assert "101.5 >= best ask 101.0" in str(err.value)
    assert (book.best_bid, book.is_valid, book.seq) == (("101.5", "1"), False, 11)
    book.apply(bid_size("2.0", seq=12))
    assert book.dropped_updates == 1
    book.apply(snapshot(seq=20))
    assert book.is_valid and book.best_bid == BID
    # a crossed snapshot is caught too; a touching one (bid == ask) is crossed
    with pytest.raises(CrossedBook):
        book.apply(push("snapshot", [("101.0", "1")], [ASK]))
    assert not book.is_valid
