"""Differential mutation fuzzing: the compiled OrderBook against the reference Book.

Real frames (tests/fixtures/real), the V2 and protocol 7.1 examples, and generated streams
(tests/property/test_book_props.py's MessageGen) are mutated (bit flips, interesting bytes,
truncation, deleted/duplicated spans, whitespace, splices, token swaps, rewritten numbers,
JSON-level rewrites) and applied to both implementations from the same prior state. The
compiled book must raise exactly the reference's exception class (ProtocolError,
ChecksumMismatch, SequenceGap, CrossedBook or none) and end in the same state: never a crash,
never another exception type. The documented differences (escaped, over-long or absurd level
strings refused; huge numbers in skipped fields accepted) and the reported, kept ones (repeated
keys whose first value is invalid, escaped seq/checksum strings: see test_book_props.py; levels
that no longer fit int64 mantissas at the scale an update widens to) are recognised, checked to
be what they claim, counted, and the pair of books is rebuilt.

Deterministic by default (seeded, a fixed number of mutations, a few seconds). Long runs::

    BITGET_FAST_FUZZ_SECONDS=600 pytest tests/fuzz/test_book_fuzz.py -k long_run -s \
        -o faulthandler_timeout=0

fuzz for that long (seed from ``BITGET_FAST_FUZZ_SEED``, default random and printed; a
disagreement is saved as a session file and the run goes on). ``BITGET_FAST_FUZZ_CORPUS_DIR=dir``
also writes the sessions applied (up to ``BITGET_FAST_FUZZ_CORPUS_MB``, default 400) in the
input format of tests/fuzz/c/book_fuzz_main.c. The C harnesses (built with AddressSanitizer
and UndefinedBehaviorSanitizer by gcc) run wherever gcc has libasan; ``BITGET_FAST_FUZZ_C=0``
skips them, ``=1`` fails when they cannot be built.
"""

from __future__ import annotations

import collections
import importlib.util
import json
import os
import random
import re
import struct
import sys
import time
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from bitget_fast.book import OrderBook
from bitget_fast.errors import ProtocolError
from bitget_fast.sim import reference
from bitget_fast.sim.reference import Book

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "fixtures"
REAL = FIXTURES / "real"
DOCS = FIXTURES / "docs-examples"


def _load_props():
    """tests/property/test_book_props.py, for its generator and state helpers."""
    path = HERE.parent / "property" / "test_book_props.py"
    spec = importlib.util.spec_from_file_location("_bitget_fast_book_props", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


props = _load_props()
compiled_state, reference_state = props.compiled_state, props.reference_state
check_same, check_mantissas = props.check_same, props.check_mantissas

FUZZ_SECONDS = float(os.environ.get("BITGET_FAST_FUZZ_SECONDS", "0") or 0)
SMOKE_SEED = 20240611
SMOKE_MUTATIONS = 5000
INT64_MAX = (1 << 63) - 1

# Protocol reference section 7.1, verbatim (as in tests/unit/test_book_semantics.py).
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


def books5_frame() -> bytes:
    text = (DOCS / "bitgetnet_futures_ws_books5.txt").read_bytes()
    return text.partition(b"\n=")[2].partition(b"\n")[2]


def other_frames() -> list[bytes]:
    """Real non-book Bitget frames (candles, trades, errors, pong) for splicing."""
    out = []
    for line in (REAL / "cryptofeed_BITGET.ws.2.0.txt").read_bytes().splitlines()[:400]:
        stamp, _, frame = line.partition(b": ")
        if stamp.replace(b".", b"", 1).isdigit() and b'"books"' not in frame:
            out.append(frame)
    return out[:60] + (REAL / "errors_published.txt").read_bytes().splitlines()


def real_streams() -> list[tuple[str, str, list[bytes]]]:
    nautilus = [(DOCS / f"nautilus_pr3782_ws_public_depth_{k}.json").read_bytes()
                for k in ("snapshot", "update")]
    return [("DASHUSDT", "real-DASHUSDT", jsonl_frames("DASHUSDT")),
            ("UNIUSDT", "real-UNIUSDT", jsonl_frames("UNIUSDT")),
            ("BTCUSDT", "nautilus-v2", nautilus),
            ("BTCUSDT", "protocol-7.1", [SNAPSHOT_71, UPDATE_71]),
            ("BTCUSDT", "books5-doc", [books5_frame()])]


# ------------------------------------------------------------------------------- mutations

INTERESTING_BYTES = b'"\\,]}{[0123456789.-eE+: \n\t\x00\x80\xc3\xff\xed\xf4\x7f\x1f/u'
TOKENS = [b'"', b"\\", b"\\u0000", b"\\ud800", b"\\udc00", b"\\ud83d\\ude00", b"\\u00e9",
          b'\\"', b"\\u0031", b"\\u002e", b"null", b"true", b"false", b"[]", b"{}", b"1E400",
          b"-0", b"0.0", b'"0"', b",", b'""', b"[[", b"]]", b"\xc3\xa9", b"\xed\xa0\x80",
          b"\xf0\x9f\x98\x80", b"\xef\xbb\xbf", b"\xc0\x80", b"\xe0\x80\x80", b"\xf4\x90\x80\x80",
          b"\xf0\x9f", b'"x":1,', b'"seq":1,', b'"checksum":0,', b'"bids":[],', b'"pseq":5,',
          b'["1","1"],', b'["0","0"]', b"9" * 30, b"1" * 400, b"0." + b"0" * 30 + b"1"]
NUMBERS = [b"0", b"-1", b"1", b"2147483647", b"2147483648", b"4294967295", b"4294967296",
           b"-2147483648", b"-2147483649", b"9223372036854775807", b"9223372036854775808",
           b"-9223372036854775808", b"-9223372036854775809", b"18446744073709551616", b"1.0",
           b"1e5", b"-0", b"1E400", b"00", b'"1"', b'"-1"', b'"9223372036854775808"', b'""',
           b"null", b"true", b"[1]", b"{}"]
LEVEL_TEXTS = [b"0", b"0.0", b"00", b"1", b"1.0", b"0.1", b"100", b"100.0", b"100.00", b"1e2",
               b"-1", b".5", b"5.", b"", b" 1", b"1 ", b"0" * 23, b"1" * 18, b"1" * 19,
               b"0." + b"0" * 17 + b"1", b"0." + b"0" * 18 + b"1", b"1" * 12 + b"." + b"1" * 6,
               b"9" * 18, b"\\u0031", b"1\\u002e5", b"0" * 24 + b"1", b"113.33", b"27000.5"]
WHITESPACE = [b" ", b"\n", b"\t", b"\r", b"\r\n", b"  \n\t"]
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_STRUCTURAL = re.compile(rb"[{}\[\],:]")


def _pos(rng: random.Random, data: bytes, extra: int = 0) -> int:
    return rng.randint(0, max(0, len(data) - 1 + extra))


def _flip(rng, data, pool):
    if not data:
        return data
    b = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        i = _pos(rng, b)
        b[i] ^= 1 << rng.randrange(8)
    return bytes(b)


def _replace_byte(rng, data, pool):
    if not data:
        return data
    i = _pos(rng, data)
    return data[:i] + bytes([rng.choice(INTERESTING_BYTES)]) + data[i + 1:]


def _insert_token(rng, data, pool):
    i = _pos(rng, data, 1)
    return data[:i] + rng.choice(TOKENS) + data[i:]


def _delete_span(rng, data, pool):
    i = _pos(rng, data)
    return data[:i] + data[i + rng.choice([1, 1, 2, 3, 5, 8, 16, 64, 300]):]


def _duplicate_span(rng, data, pool):
    i = _pos(rng, data)
    span = data[i:i + rng.choice([1, 2, 4, 8, 20, 60, 200])]
    j = i + len(span) if rng.random() < 0.5 else _pos(rng, data, 1)
    return data[:j] + span + data[j:]


def _insert_ws(rng, data, pool):
    spots = [m.start() + rng.randint(0, 1) for m in _STRUCTURAL.finditer(data)]
    i = rng.choice(spots) if spots and rng.random() < 0.85 else _pos(rng, data, 1)
    return data[:i] + rng.choice(WHITESPACE) * rng.randint(1, 3) + data[i:]


def _splice(rng, data, pool):
    other = rng.choice(pool)
    return data[:_pos(rng, data, 1)] + other[_pos(rng, other, 1):]


def _truncate(rng, data, pool):
    return data[:_pos(rng, data)]


def _digit(rng, data, pool):
    digits = [i for i in range(len(data)) if 48 <= data[i] <= 57]
    if not digits:
        return data
    i = rng.choice(digits)
    return data[:i] + bytes([rng.randint(48, 57)]) + data[i + 1:]


def _swap_strings(rng, data, pool):
    spans = [m.span() for m in _STRING.finditer(data)]
    if len(spans) < 2:
        return data
    (a0, a1), (b0, b1) = sorted(rng.sample(spans, 2))
    return data[:a0] + data[b0:b1] + data[a1:b0] + data[a0:a1] + data[b1:]


def _level_text(rng, data, pool):
    """A price or size string replaced with an edge-case decimal (or non-decimal)."""
    spans = [m.span() for m in _STRING.finditer(data)]
    if not spans:
        return data
    a, b = rng.choice(spans)
    return data[:a + 1] + rng.choice(LEVEL_TEXTS) + data[b - 1:]


def _number(rng, data, pool):
    spans = []
    for m in re.finditer(rb'"(seq|pseq|checksum|ts)"\s*:\s*', data):
        end = m.end()
        n = _STRING.match(data, end) or _NUMBER.match(data, end)
        if n:
            spans.append(n.span())
    if not spans or rng.random() < 0.2:
        spans = [m.span() for m in _NUMBER.finditer(data)] or [(0, 0)]
    a, b = rng.choice(spans)
    return data[:a] + rng.choice(NUMBERS) + data[b:]


def _rewrite(rng, data, pool):
    """Parse, change the message's meaning a little, write it with random layout."""
    try:
        msg = orjson.loads(data)
        entry = msg["data"][0]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        return data
    if not isinstance(entry, dict):
        return data
    r = rng.random()
    sides = [s for s in ("bids", "asks") if isinstance(entry.get(s), list) and entry[s]]
    if r < 0.25 and sides:
        levels = entry[rng.choice(sides)]
        i = rng.randrange(len(levels))
        choice = rng.random()
        if choice < 0.3:
            del levels[i]
        elif choice < 0.6:
            levels.insert(rng.randrange(len(levels) + 1), levels[i])
        elif choice < 0.8 and isinstance(levels[i], list) and len(levels[i]) == 2:
            levels[i] = [levels[i][0], rng.choice(["0", "0.000", "1", "00.10"])]
        else:
            rng.shuffle(levels)
    elif r < 0.45:
        seq = entry.get("seq")
        base = seq if isinstance(seq, int) else rng.choice([0, 100, INT64_MAX])
        entry["seq"] = base + rng.choice([-1, 0, 1, 1, 2, 10, 1 << 62])
        if rng.random() < 0.3:
            entry["pseq"] = base + rng.choice([-1, 0, 0, 1])
    elif r < 0.6:
        kind = rng.random()
        if kind < 0.4:
            entry.pop("checksum", None)
        elif kind < 0.7:
            entry["checksum"] = 0
        else:
            entry["checksum"] = str(entry.get("checksum", 0))
    elif r < 0.7 and isinstance(msg, dict):
        msg["action"] = rng.choice(["snapshot", "update"])
    elif r < 0.8 and isinstance(msg.get("arg"), dict):
        msg["arg"]["channel"] = rng.choice(["books", "books1", "books5", "books15"])
    w = props.Writer(rng, rng.randint(0, 1))  # no escaped keys: repeated ones are not made

    def convert(value):
        if isinstance(value, dict):
            members = [(k, convert(v)) for k, v in value.items()]
            if rng.random() < 0.2:
                members.insert(rng.randint(0, len(members)), (w.key_name(), w.junk()))
            return props.Obj(*members)
        if isinstance(value, list):
            return [convert(v) for v in value]
        if isinstance(value, str):
            return props.Raw(json.dumps(value, ensure_ascii=False))
        if isinstance(value, float):
            return props.Raw(orjson.dumps(value).decode())
        return value

    return w.write(convert(msg)).encode("utf-8", "surrogatepass")


MUTATORS = [(_flip, 8), (_replace_byte, 10), (_insert_token, 8), (_delete_span, 8),
            (_duplicate_span, 6), (_insert_ws, 8), (_splice, 4), (_truncate, 3), (_digit, 10),
            (_swap_strings, 5), (_level_text, 8), (_number, 8), (_rewrite, 14)]
_MUTATOR_FUNCS = [m for m, _ in MUTATORS]
_MUTATOR_WEIGHTS = [w for _, w in MUTATORS]


def mutate(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        data = rng.choices(_MUTATOR_FUNCS, _MUTATOR_WEIGHTS)[0](rng, data, pool)
    return data


# ------------------------------------------------------------------------------- differences

_ABSURD_HINTS = ("longer than 23 characters", "more than 18 significant digits",
                 "more than 18 decimals")


def _has_repeated_keys(raw: bytes) -> bool:
    found = []

    def hook(pairs):
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            found.append(keys)
        return dict(pairs)

    try:
        json.loads(raw, object_pairs_hook=hook)
    except (ValueError, RecursionError):
        return False
    return bool(found)


def _escaped_numeric_strings(raw: bytes) -> set[str]:
    """Texts of JSON strings written with escapes that are (possibly signed) decimals."""
    found = set()
    for m in _STRING.finditer(raw):
        literal = m.group()
        if b"\\" in literal:
            try:
                text = json.loads(literal)
            except ValueError:
                continue
            if re.fullmatch(r"-?[0-9]+(?:\.[0-9]+)?", text):
                found.add(text)
    return found


def _huge_numbers(raw: bytes) -> list[tuple[int, int]]:
    """Spans of number tokens (outside strings) that overflow a double."""
    spans, pos = [], 0
    strings = [m.span() for m in _STRING.finditer(raw)]
    for a, b in strings + [(len(raw), len(raw))]:
        for m in _NUMBER.finditer(raw, pos, a):
            if float(m.group()) in (float("inf"), float("-inf")):
                spans.append(m.span())
        pos = b
    return spans


def _decimals(text: str) -> int:
    return len(text.partition(".")[2])


def _absurd(text: str) -> bool:
    digits = text.replace(".", "").lstrip("0")
    return len(text) > 23 or len(digits) > 18 or _decimals(text) > 18


def _overflows(levels, prior, ps0, ss0) -> bool:
    """Would these levels (and the book's) overflow int64 at the widened scales?"""
    ps = max([ps0] + [_decimals(p) for p, _ in levels])
    ss = max([ss0] + [_decimals(s) for _, s in levels])
    return any(Decimal(p).scaleb(ps) > INT64_MAX or Decimal(s).scaleb(ss) > INT64_MAX
               for p, s in list(levels) + list(prior))


def explain(raw: bytes, compiled: OrderBook, ref: Book, got, want) -> str | None:
    """Name the known difference behind a disagreement, after checking it is that one.

    Called right after both books were given ``raw``; returns None when unexplained. The
    compiled book may be changed by the check (the pair is rebuilt afterwards anyway).
    """
    if got is ProtocolError and want is not ProtocolError:
        # The reference took it, so it is JSON; the compiled book is still in the prior state.
        msg = orjson.loads(raw)
        entry = msg["data"][0]
        levels = [tuple(level) for side in ("bids", "asks") for level in entry.get(side, [])]
        snapshot = msg["arg"]["channel"] != "books" or msg.get("action") == "snapshot"
        if any(_absurd(text) for level in levels for text in level):
            return "documented: absurd level string"
        # A snapshot starts from the configured places (none here), an update from the book's
        # scale, which it widens: past int64, the compiled book refuses it (int64 mantissas).
        if snapshot:
            overflow = _overflows(levels, [], 0, 0)
        else:
            overflow = _overflows(levels, compiled.bids() + compiled.asks(),
                                  compiled.price_scale, compiled.size_scale)
        if overflow:
            return "deliberate: scale past int64"
        escaped = _escaped_numeric_strings(raw)
        if _has_repeated_keys(raw):
            reason = "reported: repeated key"
        elif escaped & {text for level in levels for text in level}:
            reason = "documented: escaped level string"
        elif escaped & {entry.get(k) for k in ("seq", "pseq", "checksum")}:
            reason = "reported: escaped seq/checksum string"
        else:
            return None
        # Written plainly (orjson: last key wins, no escapes), the message must agree.
        got2, _ = props.apply(compiled, orjson.dumps(msg))
        if got2 is not want:
            return None
        try:
            check_same(compiled, ref)
        except AssertionError:
            return None
        return reason
    if want is ProtocolError and got is not ProtocolError:
        spans = _huge_numbers(raw)
        if not spans:
            return None
        fixed = bytearray(raw)
        for a, b in reversed(spans):
            fixed[a:b] = b"0"
        try:
            ref._parse(bytes(fixed))  # pure: validates without touching the book
        except ProtocolError:
            return None
        return "documented: huge number in a skipped field"
    return None


# ------------------------------------------------------------------------------- the loop


class Failure(AssertionError):
    pass


class Corpus:
    """Writes the sessions applied (for the C harness), up to a byte budget."""

    def __init__(self, directory: Path | None, budget: int) -> None:
        self.directory, self.budget = directory, budget
        self.count = 0
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            self.count = len(list(directory.glob("session_*.bin")))

    def add(self, symbol: str, strict: bool, log: list) -> None:
        if self.directory is None or not log or self.budget <= 0:
            return
        data = session_bytes(symbol, strict, log)
        self.budget -= len(data)
        (self.directory / f"session_{self.count:06d}.bin").write_bytes(data)
        self.count += 1


class Pair:
    """A compiled and a reference book of the same symbol, kept in the same state."""

    def __init__(self, symbol: str, strict: bool, corpus: Corpus) -> None:
        self.symbol, self.strict = symbol, strict
        self.corpus = corpus
        self.log: list[bytes] = []
        self.new_books()

    def new_books(self) -> None:
        self.corpus.add(self.symbol, self.strict, self.log)
        self.c = OrderBook(self.symbol, strict_seq=self.strict)
        self.r = Book(self.symbol, strict_seq=self.strict)
        self.log = []

    def step(self, raw, stats: collections.Counter, examples: dict) -> bool:
        """Apply to both; False when a known difference made the books part (rebuild them)."""
        self.log.append(raw)
        before = compiled_state(self.c)
        dropped = self.r.dropped_updates
        got, ret = apply_any(self.c, _as_input(raw, len(self.log)))
        want, exc = apply_any(self.r, raw)
        if not _book_error(got):
            raise Failure(f"the compiled book raised {got.__name__}: {ret!r}")
        if not _book_error(want):
            raise Failure(f"the reference raised {want.__name__}: {exc!r}")
        if got is not want:
            reason = explain(raw, self.c, self.r, got, want)
            if reason is None:
                raise Failure(f"compiled raised {got} ({ret}), the reference {want} ({exc})")
            stats[reason] += 1
            examples.setdefault(reason, raw)
            return False
        if got is ProtocolError:
            if compiled_state(self.c) != before:
                raise Failure("ProtocolError but the compiled book changed")
        elif got is None:
            if ret != (self.r.dropped_updates == dropped):
                raise Failure(f"apply returned {ret} but dropped changed "
                              f"{dropped} -> {self.r.dropped_updates}")
        elif ret.channel != exc.channel:
            raise Failure(f"channels differ: {ret.channel} vs {exc.channel}")
        try:
            check_same(self.c, self.r)
        except AssertionError as err:
            raise Failure(f"states differ after {got}: {err}") from None
        stats[got.__name__ if got else "applied"] += 1
        return True


def apply_any(book, raw) -> tuple[type | None, object]:
    """Like props.apply, but any exception is caught and returned (by class)."""
    try:
        return None, book.apply(raw)
    except Exception as exc:  # noqa: BLE001 - every exception type is a finding here
        return type(exc), exc


def _book_error(cls) -> bool:
    return cls is None or issubclass(cls, ProtocolError)


def _as_input(raw: bytes, n: int):
    """Mostly bytes; now and then the other accepted input types."""
    k = n % 23
    if k == 5:
        return bytearray(raw)
    if k == 11:
        return memoryview(raw)
    if k == 17:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw
    return raw


def snapshot_of(book: Book) -> bytes:
    entry = {"asks": [list(a) for a in book.asks], "bids": [list(b) for b in book.bids],
             "checksum": book.checksum()}
    if book.seq is not None:
        entry["seq"] = book.seq
    return orjson.dumps({"action": "snapshot", "arg": {"instType": "USDT-FUTURES",
                         "channel": "books", "instId": book.symbol}, "data": [entry]})


def same_levels(pair: Pair, clean: Book) -> bool:
    r = pair.r
    return (r.is_valid and r.seq == clean.seq and r.depth == clean.depth
            and r.checksum() == clean.checksum() and r.bids == clean.bids and r.asks == clean.asks)


def generated_stream(rng: random.Random, n: int) -> tuple[str, str, list[bytes]]:
    seed = rng.getrandbits(64)
    gen = props.MessageGen(random.Random(seed), p_bad=0.01)
    return props.SYMBOL, f"generated-{seed}", [gen.next() for _ in range(n)]


def fuzz(seed: int, *, mutations: int | None = None, seconds: float | None = None,
         corpus_dir: Path | None = None,
         failures: list | None = None) -> tuple[collections.Counter, dict]:
    """Run the differential fuzzer; raises Failure (with a reproducer) on a disagreement.

    With a ``failures`` list, a disagreement is appended there (with where its reproducer was
    saved), the books are rebuilt and the run goes on.
    """
    rng = random.Random(seed)
    real = real_streams()
    pool = [f for _, _, frames in real for f in frames] + other_frames()
    stats: collections.Counter = collections.Counter()
    examples: dict = {}
    corpus = Corpus(corpus_dir, int(os.environ.get("BITGET_FAST_FUZZ_CORPUS_MB", "400")) << 20)
    deadline = time.monotonic() + seconds if seconds else None
    done = 0
    round_no = 0

    def finished() -> bool:
        return (deadline is not None and time.monotonic() > deadline) or \
            (mutations is not None and done >= mutations)

    while not finished():
        if round_no < len(real) or rng.random() < 0.45:
            symbol, name, frames = real[round_no % len(real)] if round_no < len(real) else \
                rng.choice(real)
        else:
            symbol, name, frames = generated_stream(rng, rng.randint(10, 80))
        round_no += 1
        strict = rng.random() < 0.3
        per_frame = rng.choice([0.3, 1, 2, 4])
        pair = Pair(symbol, strict, corpus)
        clean = Book(symbol, strict_seq=strict)
        for index, frame in enumerate(frames):
            k = int(per_frame) + (rng.random() < per_frame % 1)
            for _ in range(k):
                source = frame if rng.random() < 0.85 else rng.choice(pool)
                raw = mutate(rng, source, pool)
                done += 1
                _checked(pair, raw, stats, examples, seed, name, index, clean, failures)
                if not same_levels(pair, clean):
                    _checked(pair, snapshot_of(clean), stats, examples, seed, name, index, clean,
                             failures)
            try:
                clean.apply(frame)
            except ProtocolError:
                pass
            _checked(pair, frame, stats, examples, seed, name, index, clean, failures)
            if finished():
                break
        check_mantissas(pair.c)
        corpus.add(pair.symbol, pair.strict, pair.log)
    stats["mutations"] = done
    stats["rounds"] = round_no
    return stats, examples


def _checked(pair: Pair, raw: bytes, stats, examples, seed, name, index, clean,
             failures=None) -> None:
    try:
        ok = pair.step(raw, stats, examples)
    except Failure as err:
        path = _save_reproducer(pair, raw)
        failure = Failure(f"seed {seed}, stream {name}, frame {index}: {err}\n"
                          f"message: {raw[:3000]!r}\nprior messages ({len(pair.log) - 1}) and "
                          f"this one saved to {path}")
        if failures is None:
            raise failure from None
        failures.append(failure)
        stats["FAILURES"] += 1
        ok = False
    if not ok:
        pair.new_books()
        pair.step(snapshot_of(clean), stats, examples)


def _save_reproducer(pair: Pair, raw: bytes) -> str:
    directory = Path(os.environ.get("BITGET_FAST_FUZZ_CORPUS_DIR") or "/tmp")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"book_fuzz_failure_{os.getpid()}_{time.time_ns()}.bin"
    path.write_bytes(session_bytes(pair.symbol, pair.strict, pair.log))
    return str(path)


def session_bytes(symbol: str, strict: bool, messages: list) -> bytes:
    """The C harness's input: records of <u32 little-endian length><bytes>.

    Record 0 is the symbol, record 1 the options (``strict`` or ``lenient``), then messages.
    """
    out = bytearray()
    for rec in [symbol.encode(), b"strict" if strict else b"lenient", *messages]:
        rec = rec if isinstance(rec, bytes) else bytes(rec)
        out += struct.pack("<I", len(rec)) + rec
    return bytes(out)


# ------------------------------------------------------------------------------- tests


@pytest.mark.slow
def test_differential_mutation_smoke():
    stats, examples = fuzz(SMOKE_SEED, mutations=SMOKE_MUTATIONS)
    assert stats["mutations"] >= SMOKE_MUTATIONS
    # the mutations reach every outcome, not only parse errors
    for outcome in ("applied", "ProtocolError", "ChecksumMismatch", "SequenceGap",
                    "CrossedBook"):
        assert stats[outcome] > 0, (outcome, stats)


@pytest.mark.skipif(not FUZZ_SECONDS, reason="set BITGET_FAST_FUZZ_SECONDS for a long run")
@pytest.mark.timeout(FUZZ_SECONDS * 1.5 + 300)
def test_differential_mutation_long_run():
    seed = int(os.environ.get("BITGET_FAST_FUZZ_SEED") or random.SystemRandom().getrandbits(48))
    corpus = os.environ.get("BITGET_FAST_FUZZ_CORPUS_DIR")
    print(f"\nbook fuzz: seed {seed}, {FUZZ_SECONDS:.0f} s", file=sys.stderr)
    failures: list = []
    stats, examples = fuzz(seed, seconds=FUZZ_SECONDS,
                           corpus_dir=Path(corpus) if corpus else None, failures=failures)
    print(f"book fuzz: seed {seed}: {dict(stats)}", file=sys.stderr)
    for reason, raw in examples.items():
        print(f"  first {reason}: {raw[:300]!r}", file=sys.stderr)
    for failure in failures[:20]:
        print(f"FAILURE: {failure}", file=sys.stderr)
    assert not failures, f"{len(failures)} disagreements (the first ones printed above)"


C_DIR = HERE / "c"
SRC = HERE.parent.parent / "src"
SANITIZE = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-g", "-O1", "-fno-omit-frame-pointer",
            "-fsanitize=address,undefined", "-fno-sanitize-recover=all", f"-I{SRC}"]
def c_harnesses_enabled() -> bool:
    """The C harnesses run when gcc can build with AddressSanitizer (CI's machine can), unless
    ``BITGET_FAST_FUZZ_C=0``; ``BITGET_FAST_FUZZ_C=1`` requires them."""
    flag = os.environ.get("BITGET_FAST_FUZZ_C", "")
    if flag == "0":
        return False
    import shutil
    import subprocess

    gcc = shutil.which("gcc")
    found = bool(gcc) and Path(subprocess.run([gcc, "-print-file-name=libasan.so"],
                                              capture_output=True, text=True).stdout.strip()
                               ).is_absolute()
    if flag == "1" and not found:
        raise RuntimeError("BITGET_FAST_FUZZ_C=1 but gcc with libasan is not available")
    return found


needs_c = pytest.mark.skipif(not c_harnesses_enabled(),
                             reason="gcc with AddressSanitizer is not available (or BITGET_FAST_FUZZ_C=0)")


def _build(tmp_path: Path, main: str, *extra: str) -> Path:
    import subprocess

    exe = tmp_path / Path(main).stem
    subprocess.run(["gcc", *SANITIZE, *extra, str(SRC / "bf_book.c"), str(SRC / "bf_crc32.c"),
                    str(C_DIR / main), "-o", str(exe)], check=True)
    return exe


@needs_c
@pytest.mark.timeout(FUZZ_SECONDS * 2 + 600)
def test_c_harness_under_sanitizers(tmp_path):
    import subprocess

    exe = _build(tmp_path, "book_fuzz_main.c")
    corpus = tmp_path / "corpus"
    fuzz(SMOKE_SEED, mutations=SMOKE_MUTATIONS, corpus_dir=corpus)
    sessions = sorted(str(p) for p in corpus.glob("session_*.bin"))
    assert sessions
    out = subprocess.run([str(exe), *sessions], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-4000:]
    seconds = str(max(10.0, FUZZ_SECONDS))
    out = subprocess.run([str(exe), "-mutate", seconds, str(SMOKE_SEED), *sessions],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-4000:]


@needs_c
def test_c_allocation_failures_leave_the_book_unchanged(tmp_path):
    import subprocess

    exe = _build(tmp_path, "book_oom_main.c", "-Wl,--wrap=realloc")
    out = subprocess.run([str(exe)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr[-4000:]


def _truncation_streams():
    return [(s, n, f) for s, n, f in real_streams()]


@pytest.mark.slow
@pytest.mark.parametrize("symbol, name, frames", _truncation_streams(),
                         ids=[n for _, n, _ in _truncation_streams()])
def test_every_truncation_of_every_real_frame_is_rejected_unchanged(symbol, name, frames):
    """frame[:k] for every k: ProtocolError, book unchanged (the reference too, sampled)."""
    compiled, ref = OrderBook(symbol), Book(symbol)
    stride = 1 if len(frames) < 10 else 5

    def quick(book):
        return (book.depth, book.checksum(), book.seq, bool(book.is_valid), book.best_bid,
                book.best_ask, book.checksums_verified, book.checksums_skipped)

    for i, frame in enumerate(frames):
        before, full = quick(compiled), compiled_state(compiled)
        ref_before = reference_state(ref)
        for k in range(len(frame)):
            if not frame[k:].strip():
                continue  # only whitespace is cut: still the whole message
            cut = frame[:k]
            try:
                compiled.apply(cut)
            except ProtocolError as err:
                assert type(err) is ProtocolError, (i, k, err)
                assert err.offset is not None and 0 <= err.offset <= k, (i, k, err.offset)
            else:
                raise AssertionError(f"{name} frame {i} cut at {k} was accepted")
            assert quick(compiled) == before, (i, k)
            if k % stride == 0 or k > len(frame) - 40:
                with pytest.raises(ProtocolError) as caught:
                    ref.apply(cut)
                assert type(caught.value) is ProtocolError
        assert compiled_state(compiled) == full
        assert reference_state(ref) == ref_before
        compiled.apply(frame)
        ref.apply(frame)
        check_same(compiled, ref)


# -- huge and absurd inputs ------------------------------------------------------------------

SNAP = props.reference_snapshot


def _pair_after_snapshot():
    compiled, ref = OrderBook(props.SYMBOL), Book(props.SYMBOL)
    props.step(compiled, ref, SNAP())
    return compiled, ref


def _same(raw, expect=None):
    """Both books, after a snapshot, agree on raw; returns the exception class."""
    compiled, ref = _pair_after_snapshot()
    got = props.step(compiled, ref, raw)
    if expect is not None:
        assert got is expect, (got, raw[:200])
    return got


def _with_extra(value: bytes, where: str = "top") -> bytes:
    """The snapshot with an unknown field holding the raw JSON ``value``."""
    raw = SNAP(seq=6)
    marker = {"top": b'{"action"', "arg": b'"arg":{', "entry": b'"data":[{'}[where]
    return raw.replace(marker, marker + b'"x":' + value + b",", 1) if where != "top" else \
        raw.replace(b"{", b'{"x":' + value + b",", 1)


@pytest.mark.parametrize("where", ["top", "arg", "entry"])
def test_nesting_depth_limit_matches_orjson(where):
    # the message object, arg and data[0] already open 1, 2 and 3 containers
    outer = {"top": 1, "arg": 2, "entry": 3}[where]
    for depth in (1024 - outer - 1, 1024 - outer, 1024 - outer + 1):
        for opening, closing in ((b"[", b"]"), (b'{"a":', b"}")):
            value = opening * depth + b"1" + closing * depth
            got = _same(_with_extra(value, where))
            assert (got is ProtocolError) == (outer + depth > 1024), (where, depth, opening)


def test_50_mb_of_nesting_is_refused_quickly():
    compiled, _ = _pair_after_snapshot()
    before = compiled_state(compiled)
    for raw in (b"[" * 50_000_000, b'{"x":' + b"[" * 50_000_000,
                b'{"a":' * 10_000_000, SNAP()[:-3] + b',"x":' + b"[" * 50_000_000):
        started = time.perf_counter()
        with pytest.raises(ProtocolError) as err:
            compiled.apply(raw)
        assert type(err.value) is ProtocolError
        assert time.perf_counter() - started < 1.0
        assert compiled_state(compiled) == before
    with pytest.raises(ProtocolError):
        Book(props.SYMBOL).apply(b'{"x":' + b"[" * 50_000_000)


def test_200k_levels_in_one_message():
    n = 100_000
    bids = [(f"{50000 - i * 0.5:.1f}", "1.5") for i in range(n)]
    asks = [(f"{50001 + i * 0.5:.1f}", f"{i % 7 + 1}") for i in range(n)]
    top = reference.checksum(bids, asks)
    raw = orjson.dumps({"action": "snapshot", "arg": {"channel": "books", "instId": "BTCUSDT"},
                        "data": [{"bids": bids, "asks": asks, "checksum": top, "seq": 1}]})
    compiled, ref = OrderBook("BTCUSDT"), Book("BTCUSDT")
    props.step(compiled, ref, raw)
    assert compiled.depth == (n, n) and compiled.checksum() == top
    # delete all but one level per side in one update, best first (the compiled book's
    # cheap order: 200k changes applied one by one in the same message)
    deletes = orjson.dumps({"action": "update", "arg": {"channel": "books", "instId": "BTCUSDT"},
                            "data": [{"bids": [[p, "0"] for p, _ in bids[:-1]],
                                      "asks": [[p, "0.0"] for p, _ in asks[:-1]],
                                      "checksum": reference.checksum(bids[-1:], asks[-1:]),
                                      "seq": 2}]})
    started = time.perf_counter()
    assert compiled.apply(deletes)
    assert time.perf_counter() - started < 2.0
    assert (compiled.bids(), compiled.asks()) == (bids[-1:], asks[-1:])
    assert compiled.checksums_verified == 2 and compiled.is_valid
    # a small snapshot afterwards gives most of the memory back
    big = compiled.memory_bytes()
    compiled.apply(SNAP())
    assert compiled.depth == (1, 1) and compiled.memory_bytes() < big / 2


def test_very_long_strings_in_unknown_fields():
    for text in (b"a" * 20_000_000, b"\\u00e9\\n\\\"" * 1_000_000, "\u20ac".encode() * 3_000_000,
                 b"\\ud83d\\ude00" * 500_000):
        for where in ("top", "arg", "entry"):
            assert _same(_with_extra(b'"' + text + b'"', where)) is None
    key = b'"' + b"k" * 5_000_000 + b'"'
    assert _same(SNAP().replace(b"{", b"{" + key + b":1,", 1)) is None


@pytest.mark.parametrize("where", ["top", "arg", "entry"])
def test_400_digit_numbers(where):
    # in a skipped field: accepted by the compiled parser, refused by orjson (documented)
    for number in (b"1" * 400, b"-" + b"9" * 400, b"1" * 400 + b".5", b"1" * 400 + b"e5",
                   b"0." + b"1" * 400 + b"e400"):
        compiled, ref = _pair_after_snapshot()
        raw = _with_extra(number, where)
        assert props.apply(compiled, raw)[0] is None
        assert props.apply(ref, raw)[0] is ProtocolError
        assert compiled.seq == 6
    # a long number that still fits a double is fine for both
    _same(_with_extra(b"0." + b"1" * 400, where), None)
    _same(_with_extra(b"1" * 300, where), None)
    # where an integer is read, both refuse it
    for field in (b'"seq":' + b"1" * 400, b'"checksum":' + b"1" * 400, b'"seq":"' + b"1" * 400
                  + b'"', b'"pseq":' + b"9" * 20):
        _same(SNAP().replace(b'"seq":5', field), ProtocolError)


UTF8_BAD = [b"\x80", b"\xc3", b"\xc3(", b"\xff", b"\xfe", b"\xc0\x80", b"\xc1\xbf",
            b"\xe0\x80\x80", b"\xe0\x9f\xbf", b"\xed\xa0\x80", b"\xed\xbf\xbf",
            b"\xf0\x80\x80\x80", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xf0\x9f\x98",
            b"\xe2\x82"]
UTF8_GOOD = [b"\xc2\x80", b"\xdf\xbf", b"\xe0\xa0\x80", b"\xed\x9f\xbf", b"\xee\x80\x80",
             b"\xef\xbf\xbf", b"\xf0\x90\x80\x80", b"\xf4\x8f\xbf\xbf"]


@pytest.mark.parametrize("where", ["top", "arg", "entry"])
def test_utf8_and_surrogates_in_keys_and_skipped_strings(where):
    for seq in UTF8_BAD:
        _same(_with_extra(b'"a' + seq + b'b"', where), ProtocolError)
        _same(_with_extra(b'{"k' + seq + b'":1}', where), ProtocolError)
        _same(_with_extra(b'"' + seq + b'"', where), ProtocolError)
    for seq in UTF8_GOOD:
        _same(_with_extra(b'"a' + seq + b'b"', where), None)
        _same(_with_extra(b'{"k' + seq + b'":1}', where), None)
    for esc in (b"\\ud800", b"\\udbff", b"\\udc00", b"\\udfff", b"\\ud800\\u0041",
                b"\\ud800\\ud800", b"\\ud800x", b"\\u12", b"\\u12g4", b"\\x41", b"\\U0041",
                b"\\'", b"\\ud800\\"):
        _same(_with_extra(b'"a' + esc + b'b"', where), ProtocolError)
    for esc in (b"\\ud800\\udc00", b"\\udbff\\udfff", b"\\u0000", b"\\/", b"\\b\\f\\n\\r\\t"):
        _same(_with_extra(b'"a' + esc + b'b"', where), None)
    # a known key spelled with a lone surrogate is not that key, and is refused
    _same(SNAP().replace(b'"action"', b'"act\\ud800ion"'), ProtocolError)


def test_lone_surrogates_in_str_input():
    text = SNAP().decode()
    for bad in ("\ud800", "\udfff"):
        compiled, ref = _pair_after_snapshot()
        raw = text.replace("{", '{"x":"' + bad + '",', 1)
        assert props.apply(compiled, raw)[0] is ProtocolError
        assert props.apply(ref, raw)[0] is ProtocolError


def test_nul_bytes_and_control_characters():
    snap = SNAP()
    for raw in (b"\x00" + snap, snap + b"\x00", snap.replace(b'"action"', b'"act\x00ion"'),
                _with_extra(b'"a\x00b"'), _with_extra(b'"a\x1fb"'), _with_extra(b'"a\nb"'),
                snap.replace(b",", b",\x00", 1), snap.replace(b",", b",\x0c", 1),
                snap.replace(b",", b",\xc2\xa0", 1), snap.replace(b'"100.0"', b'"100.0\x00"'),
                snap.replace(b'"BTCUSDT"', b'"BTCUSDT\x00"')):
        _same(raw, ProtocolError)
    for raw in (_with_extra(b'"a\\u0000b"'), _with_extra(b'"\x7f"'),
                snap.replace(b",", b", \t\r\n", 3)):
        _same(raw, None)


@pytest.mark.parametrize("raw", [b"", b" ", b" \t\r\n ", b"pong", b"ping", b"null", b"true",
                                 b"0", b"-", b'"books"', b"[]", b"{}", b"{", b"}", b"[{}]",
                                 b"\xef\xbb\xbf{}", b"{,}", b'{"a"}', b'{"a":}', b'{"a":1,}',
                                 b"[1,]", b"nul", b"tru", b"01", b"1.", b".1", b"1e", b"+1",
                                 b"\x00", b"\xff"])
def test_empty_whitespace_and_non_messages(raw):
    _same(raw, ProtocolError)
    _same(raw + SNAP(), ProtocolError if raw.strip() else None)
    _same(SNAP() + raw, ProtocolError if raw.strip() else None)


def test_known_keys_with_escapes_are_decoded():
    snap = SNAP()
    for old, new in ((b'"action"', b'"\\u0061ction"'), (b'"bids"', b'"\\u0062\\u0069ds"'),
                     (b'"books"', b'"b\\u006F\\u006Fks"'), (b'"BTCUSDT"', b'"BTC\\u0055SDT"'),
                     (b'"snapshot"', b'"\\u0073napshot"'), (b'"seq"', b'"\\u0073eq"'),
                     (b'"checksum"', b'"check\\u0073um"'), (b'"arg"', b'"\\u0061rg"')):
        assert old in snap
        _same(snap.replace(old, new, 1), None)
