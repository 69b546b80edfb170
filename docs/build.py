"""Build and check the docs, offline: ``python docs/build.py [--check]``.

* Writes ``docs/api.md``: every public name of the installed package (each module's
  ``__all__``, and the public methods and properties of each class), one line each, taken
  from the docstrings. A public name without a docstring is an error.
* Checks every Markdown file of the repo's docs (README.md, docs/*.md, examples/README.md):
  each relative link names a file that exists (and, for ``file.md#anchor``, a heading
  that makes that anchor), and each ```python block compiles.

``--check`` writes nothing: it fails when ``docs/api.md`` is not what the package's
docstrings make (run without ``--check`` to regenerate it). Needs the package installed
(the compiled modules' docstrings come from the build); needs no network.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import pathlib
import re
import sys
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
API = ROOT / "docs" / "api.md"

# The modules a user imports, in the order the reference shows them, with what each is for.
MODULES = [
    ("bitget_fast", "the package: everything a strategy needs, importable from the top"),
    ("bitget_fast.connector", "BitgetPerpetual: orders, fills, positions, balances, books"),
    ("bitget_fast.orders", "the order tracker and an order's states"),
    ("bitget_fast.models", "the records pushed to callbacks and feeds"),
    ("bitget_fast.account", "positions and balances, kept from pushes and REST"),
    ("bitget_fast.market", "MarketData: checked books, trades and tickers"),
    ("bitget_fast.candles", "CandleFeed: candle history over REST, continued live, gapless"),
    ("bitget_fast.intervals", "Bitget's candle intervals, their alignment and REST limits"),
    ("bitget_fast.book", "the compiled order book (checksum, sequence, crossed-book checks)"),
    ("bitget_fast.wire", "the compiled WebSocket listener on picows, and the recorder's log"),
    ("bitget_fast.signing", "the compiled HMAC-SHA256 request signer"),
    ("bitget_fast.auth", "credentials, signed headers and the WebSocket login"),
    ("bitget_fast.rest", "the REST client: keep-alive connections, rate limits, retries"),
    ("bitget_fast.private", "the private stream: login, subscriptions, WebSocket orders"),
    ("bitget_fast.rules", "contracts: tick, size step, minimums, status"),
    ("bitget_fast.limits", "Bitget's rate limits, as data"),
    ("bitget_fast.errors", "the exception hierarchy"),
    ("bitget_fast.record", "Recorder and Replayer"),
    ("bitget_fast.paper", "paper trading: live books, orders matched locally"),
    ("bitget_fast.sim", "the local Bitget exchange simulator"),
    ("bitget_fast.sim.server", "Simulator: REST and WebSocket servers, faults"),
    ("bitget_fast.sim.replay", "ReplayServer: a recording served as Bitget's public stream"),
    ("bitget_fast.sim.paper", "BookMirror: the simulator's engine kept equal to a live book"),
    ("bitget_fast.sim.soak", "run_soak: the fault-injection soak behind `bitget-fast soak`"),
    ("bitget_fast.sim.contracts", "the simulator's contracts and exact decimal helpers"),
    ("bitget_fast.sim.engine", "the simulator's matching engine and accounts"),
    ("bitget_fast.sim.reference", "plain-Python reference signing, checksum and book"),
    ("bitget_fast.demo", "the `bitget-fast demo` quoter"),
    ("bitget_fast.cli", "the `bitget-fast` command"),
]
# Names whose members are not listed one by one (data containers of another module's).
_SKIP_MEMBERS = {"__version__"}


def _first_line(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    name = getattr(obj, "__name__", None)
    if name and re.match(rf"{re.escape(name)}\(.*\)( -> .*)?$", doc.split("\n", 1)[0]):
        doc = doc.split("\n", 1)[1].strip() if "\n" in doc else ""   # Cython's signature line
    line = doc.strip().split("\n\n")[0].replace("\n", " ").strip()
    return line


def _signature(obj: Any) -> str:
    try:
        sig = str(inspect.signature(obj))
    except (TypeError, ValueError):
        return "(...)"
    sig = re.sub(r"(: |-> )'([^']*)'", r"\1\2", sig)    # postponed annotations, unquoted
    return sig if len(sig) <= 90 else "(...)"


def _fields(cls: type) -> list[str]:
    """A record's fields (msgspec Struct, dataclass, NamedTuple, __slots__): the class
    docstring documents them together."""
    names = list(getattr(cls, "__struct_fields__", ()) or getattr(cls, "_fields", ()))
    names += list(getattr(cls, "__dataclass_fields__", {}))
    for klass in cls.__mro__:
        slots = vars(klass).get("__slots__", ())
        names += [slots] if isinstance(slots, str) else list(slots)
    return [n for n in dict.fromkeys(names) if not n.startswith("_")]


def _members(cls: type) -> list[tuple[str, Any]]:
    fields = set(_fields(cls))
    out = []
    for name, value in vars(cls).items():
        if name.startswith("_") or name in fields:
            continue
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if callable(value) or isinstance(value, property) or inspect.isdatadescriptor(value) \
                or inspect.ismethoddescriptor(value):
            out.append((name, value))
    return out


def _attribute_docs(mod: Any) -> dict[str, str]:
    """``name`` / ``Class.name`` -> the doc of a module constant or a class attribute: the
    string literal right after its assignment (PEP 257), or a ``#:`` comment before it.
    Read from the module's source, or from its ``.pyi`` stub for a compiled module."""
    import ast

    file = getattr(mod, "__file__", None) or ""
    path = pathlib.Path(file)
    if path.suffix not in (".py",):
        path = path.with_name(path.name.split(".")[0] + ".pyi")
    if not path.exists():
        return {}
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    out: dict[str, str] = {}

    def scan(body: list[Any], prefix: str) -> None:
        for i, node in enumerate(body):
            if isinstance(node, ast.ClassDef):
                scan(node.body, prefix + node.name + ".")
                continue
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                fdoc = ast.get_docstring(node)
                if fdoc:
                    out[prefix + node.name] = fdoc.split("\n\n")[0].replace("\n", " ")
                continue
            if isinstance(node, ast.Assign):
                targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                targets = [node.target.id]
            else:
                continue
            doc = ""
            nxt = body[i + 1] if i + 1 < len(body) else None
            if isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant) \
                    and isinstance(nxt.value.value, str):
                doc = inspect.cleandoc(nxt.value.value)
            else:
                comment = []
                j = node.lineno - 2
                while j >= 0 and lines[j].strip().startswith("#:"):
                    comment.insert(0, lines[j].strip()[2:].strip())
                    j -= 1
                doc = " ".join(comment)
            for t in targets:
                if doc:
                    out[prefix + t] = doc.split("\n\n")[0].replace("\n", " ")

    scan(ast.parse(text).body, "")
    return out


def build_api() -> tuple[str, list[str]]:
    """The text of docs/api.md, and the public names that have no docstring."""
    missing: list[str] = []
    lines = ["# API reference", "",
             "Every public name of bitget_fast, one line each, generated from the docstrings by",
             "`python docs/build.py` (CI checks it is current). Guides: [trading](trading.md),",
             "[market data](market-data.md), [record and replay](record-replay.md),",
             "[simulator](simulator.md), [reliability](reliability.md),",
             "[benchmarks](benchmarks.md).", "", "Modules:", ""]
    for mod_name, what in MODULES:
        lines.append(f"- [`{mod_name}`](#{mod_name.replace('.', '')}): {what}")
    seen_top: set[str] = set()
    for mod_name, what in MODULES:
        mod = importlib.import_module(mod_name)
        names = list(getattr(mod, "__all__", []))
        attr_docs = _attribute_docs(mod)
        lines += ["", f"## {mod_name}", "", _first_line(mod) or what, ""]
        for name in names:
            obj = getattr(mod, name)
            where = getattr(obj, "__module__", None)
            if mod_name == "bitget_fast" and name != "__version__":
                # the top level re-exports: one line each, pointing to where they live
                seen_top.add(name)
                lines.append(f"- `{name}`: {_first_line(obj)} (from `{where}`)")
                if not _first_line(obj):
                    missing.append(f"{where}.{name}")
                continue
            if mod_name == "bitget_fast.sim" or name in _SKIP_MEMBERS:
                doc = _first_line(obj) if not isinstance(obj, str) else ""
                lines.append(f"- `{name}`: {doc or 'the package version'}"
                             + (f" (from `{where}`)" if where and where != mod_name else ""))
                continue
            if inspect.isclass(obj):
                doc = _first_line(obj)
                if not doc:
                    missing.append(f"{mod_name}.{name}")
                kind = "exception" if issubclass(obj, BaseException) else "class"
                lines.append(f"- {kind} `{name}{_signature(obj) if kind == 'class' else ''}`: "
                             f"{doc}")
                if where != mod_name:
                    continue
                fields = _fields(obj)
                if fields and not issubclass(obj, BaseException):
                    lines.append("  - fields: " + ", ".join(f"`{f}`" for f in fields))
                for mname, member in _members(obj):
                    mdoc = _first_line(member) if not inspect.isdatadescriptor(member) or \
                        isinstance(member, property) else ""
                    mdoc = mdoc or attr_docs.get(f"{name}.{mname}", "")
                    if not mdoc:
                        missing.append(f"{mod_name}.{name}.{mname}")
                    sig = "" if isinstance(member, property) or inspect.isdatadescriptor(member) \
                        else _signature(member)
                    lines.append(f"  - `{mname}{sig}`: {mdoc}")
            elif callable(obj):
                doc = _first_line(obj) if inspect.isroutine(obj) or inspect.isclass(obj) \
                    else ""
                doc = doc or attr_docs.get(name, "")
                if not doc:
                    missing.append(f"{mod_name}.{name}")
                lines.append(f"- `{name}{_signature(obj)}`: {doc}")
            else:
                doc = attr_docs.get(name, "")
                if not doc:
                    missing.append(f"{mod_name}.{name}")
                lines.append(f"- `{name}` = `{_short(obj)}`: {doc}")
    return "\n".join(lines) + "\n", missing


def _short(value: Any) -> str:
    if isinstance(value, (set, frozenset)):   # a stable order (str hashes vary per process)
        r = f"{type(value).__name__}({sorted(value)!r})"
    else:
        r = repr(value)
    if len(r) > 60:
        r = f"<{type(value).__name__} of {len(value)}>" if hasattr(value, "__len__") else \
            r[:57] + "..."
    return r.replace("`", "'")


# -------------------------------------------------------------------------- checks
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.M | re.S)


def _anchors(text: str) -> set[str]:
    out = set()
    for m in re.finditer(r"^#+\s+(.+)$", text, re.M):
        a = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
        out.add(a)
    return out


def check_markdown(paths: list[pathlib.Path]) -> list[str]:
    """Broken relative links and Python blocks that do not compile, as messages."""
    problems = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        prose = _FENCE.sub("", text)
        for m in _LINK.finditer(prose):
            target = m.group(1)
            if re.match(r"^[a-z]+:", target):          # http:, https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            dest = (path.parent / file_part).resolve() if file_part else path
            if not dest.exists():
                problems.append(f"{path.relative_to(ROOT)}: link to {target}: no such file")
                continue
            if anchor and dest.suffix == ".md":
                if anchor not in _anchors(dest.read_text(encoding="utf-8")):
                    problems.append(f"{path.relative_to(ROOT)}: link to {target}: no such "
                                    "heading")
        for m in _FENCE.finditer(text):
            lang, code = m.group(1), m.group(2)
            if lang in ("python", "py"):
                line = text[:m.start()].count("\n") + 2
                try:
                    compile(code, f"{path.name}:{line}", "exec",
                            flags=__import__("ast").PyCF_ALLOW_TOP_LEVEL_AWAIT)
                except SyntaxError as e:
                    problems.append(f"{path.relative_to(ROOT)}:{line}: python block does not "
                                    f"compile: {e.msg} (line {e.lineno})")
    return problems


def markdown_files() -> list[pathlib.Path]:
    """README.md, docs/*.md and examples/README.md."""
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    ex = ROOT / "examples" / "README.md"
    return files + ([ex] if ex.exists() else [])


def _loose(text: str) -> str:
    return re.sub(r"`([\w.]+)\([^`]*`", r"`\1`", text)


def main(argv: list[str] | None = None) -> int:
    """Build docs/api.md (or, with --check, verify it) and check every page's links and code."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="verify only; write nothing")
    args = ap.parse_args(argv)
    text, missing = build_api()
    problems = [f"public name without a docstring: {n}" for n in missing]
    if args.check:
        # signatures are compared loosely: how annotations print differs between Python
        # versions, and the reference is generated on one
        if not API.exists() or _loose(API.read_text(encoding="utf-8")) != _loose(text):
            problems.append("docs/api.md is not current: run `python docs/build.py`")
    else:
        API.write_text(text, encoding="utf-8")
    problems += check_markdown(markdown_files())
    for p in problems:
        print(p, file=sys.stderr)
    print(f"docs: {len(markdown_files())} pages checked, api.md "
          f"{'checked' if args.check else 'written'} ({text.count(chr(10))} lines), "
          f"{len(problems)} problems", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
