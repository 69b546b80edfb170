"""The compiled modules are what loaded, from the installed package, with its typing and Cython files."""

from __future__ import annotations

import ast
import importlib.machinery
import inspect
import os
import pathlib
import sys

import bitget_fast
from bitget_fast import book, signing, wire

REPO = pathlib.Path(__file__).resolve().parents[2]
PACKAGE = pathlib.Path(bitget_fast.__file__).resolve().parent
COMPILED = ["signing", "book", "wire", "_http"]


def test_compiled_modules_loaded():
    for name in COMPILED:
        mod = sys.modules[f"bitget_fast.{name}"]
        assert isinstance(mod.__loader__, importlib.machinery.ExtensionFileLoader), mod
        assert mod.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)), mod.__file__
    assert not inspect.isfunction(signing.Signer.sign)  # a C method, not Python
    assert not inspect.isfunction(book.OrderBook.apply)


def test_tests_run_against_the_installed_package():
    # The checkout's bitget_fast/ has sources only; the tests must import the install.
    if os.environ.get("BITGET_FAST_TEST_INPLACE") == "1":
        return
    assert PACKAGE != (REPO / "bitget_fast").resolve(), (
        f"tests imported bitget_fast from the checkout ({PACKAGE}); install it with `pip install .` "
        "and run plain `pytest` (the config uses --import-mode=importlib)")


def test_typing_and_cython_files_installed():
    for rel in ["py.typed", "_c.pxd", "signing.pyi", "signing.pxd", "signing.pyx",
                "book.pyi", "book.pxd", "book.pyx", "wire.pyi", "wire.pxd", "wire.pyx",
                "_http.pyi", "_http.pxd", "_http.pyx"]:
        assert (PACKAGE / rel).is_file(), rel


def _stub_names(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_stubs_match_the_compiled_module():
    stub = _stub_names(PACKAGE / "signing.pyi")
    public = {n for n in dir(signing) if not n.startswith("_")} - {"os", "ConfigurationError"}
    assert stub == public
    tree = ast.parse((PACKAGE / "signing.pyi").read_text())
    signer = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Signer")
    stub_methods = {n.name for n in signer.body if isinstance(n, ast.FunctionDef)} - {"__init__"}
    runtime = {n for n in vars(signing.Signer) if not n.startswith("_")}
    assert stub_methods == runtime
    for name in runtime:
        # embedsignature: the compiled docstring starts with the signature; its
        # parameter names must be those of the stub.
        doc = getattr(signing.Signer, name).__doc__
        # (Cython versions differ on whether the class name prefixes it)
        assert doc and doc.startswith((f"{name}(", f"Signer.{name}(")), name
        fn = next(n for n in signer.body if isinstance(n, ast.FunctionDef) and n.name == name)
        for arg in fn.args.args[1:]:
            assert arg.arg in doc.split(")")[0], (name, arg.arg)


def test_book_stub_matches_the_compiled_module():
    stub = _stub_names(PACKAGE / "book.pyi")
    public = {n for n in dir(book) if not n.startswith("_")} - {
        "os", "ChecksumMismatch", "CrossedBook", "ProtocolError", "SequenceGap"}
    assert stub == public
    tree = ast.parse((PACKAGE / "book.pyi").read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "OrderBook")
    members = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)} | {
        n.target.id for n in cls.body if isinstance(n, ast.AnnAssign)}
    runtime = {n for n in vars(book.OrderBook) if not n.startswith("_")}
    assert members - {"__init__"} == runtime


def test_wire_stub_matches_the_compiled_module():
    stub = _stub_names(PACKAGE / "wire.pyi")
    public = {n for n in dir(wire) if not n.startswith("_")} - {"BookIntegrityError",
                                                                 "ProtocolError"}
    assert stub == public
    tree = ast.parse((PACKAGE / "wire.pyi").read_text())
    for cls_name in ("FrameLog", "BitgetListener", "BookRouter"):
        cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls_name)
        members = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)} | {
            n.target.id for n in cls.body if isinstance(n, ast.AnnAssign)}
        runtime = {n for n in vars(getattr(wire, cls_name)) if not n.startswith("_")}
        if cls_name == "BitgetListener":   # picows' WSListener methods it overrides
            members |= {"on_ws_connected", "on_ws_disconnected", "on_ws_frame",
                        "send_user_specific_ping", "is_user_specific_pong"}
        assert members - {"__init__", "__len__"} == runtime, cls_name


def test_every_public_name_is_documented():
    for name in bitget_fast.__all__:
        if name == "__version__":
            continue
        obj = getattr(bitget_fast, name)
        assert (obj.__doc__ or "").strip(), name


def test_version_matches_distribution_metadata():
    from importlib.metadata import version

    assert version("bitget-fast") == bitget_fast.__version__
