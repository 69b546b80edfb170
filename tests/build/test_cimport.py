"""A small Cython module cimports bitget_fast.signing's public .pxd, compiles against the install, and runs."""

from __future__ import annotations

import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig

import pytest

import bitget_fast

HERE = pathlib.Path(__file__).resolve().parent
PACKAGE_PARENT = pathlib.Path(bitget_fast.__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cimport_user(tmp_path_factory):
    if shutil.which(sysconfig.get_config_var("CC").split()[0] or "cc") is None:
        pytest.skip("no C compiler")
    build = tmp_path_factory.mktemp("cimport_user")
    shutil.copy(HERE / "cimport_user.pyx", build / "cimport_user.pyx")
    setup = build / "setup.py"
    setup.write_text(
        "from setuptools import setup, Extension\n"
        "from Cython.Build import cythonize\n"
        f"setup(ext_modules=cythonize([Extension('cimport_user', ['cimport_user.pyx'])],\n"
        f"      include_path=[{str(PACKAGE_PARENT)!r}], language_level=3, quiet=True))\n")
    env = dict(os.environ)
    out = subprocess.run([sys.executable, str(setup), "build_ext", "--inplace"], cwd=build,
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    so = next(build.glob("cimport_user*.so"))
    spec = importlib.util.spec_from_file_location("cimport_user", so)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_cython_user_signs_through_the_pxd(cimport_user):
    secret = "mysecret-0123456789abcdef"
    signer = bitget_fast.Signer(secret)
    body = b'{"symbol":"BTCUSDT","productType":"USDT-FUTURES","marginCoin":"USDT","clientOid":"mm-000001"}'
    # R4 through the C-level sign_parts_into, and sign_into on the assembled prehash.
    assert cimport_user.sign_parts(signer, 1700000000789, b"POST", b"/api/v2/mix/order/cancel-order",
                                   b"", body) == b"Cr7K4ZufA5i/IHq+SiMvOLM1ZJj4T2uVwaGiKjUGmH4="
    assert cimport_user.sign_raw(signer, b"1700000000GET/user/verify") == \
        b"372i1AlkniuN4UVVi44ATebolLQMP+hcA2qAsUrNSyc="
    assert cimport_user.signature_len() == 44
    assert cimport_user.sign_negative_size(signer).decode() == signer.sign(b"")


SNAPSHOT = (b'{"action":"snapshot","arg":{"instType":"USDT-FUTURES","channel":"books",'
            b'"instId":"BTCUSDT"},"data":[{"asks":[["27000.5","8.760"],["27001.0","0.400"]],'
            b'"bids":[["27000.0","2.710"],["26999.5","1.460"]],"checksum":0,"seq":1,'
            b'"ts":"1695716059516"}],"ts":1695716059516}')


def test_cython_user_reads_the_book_through_the_pxd(cimport_user):
    book = bitget_fast.OrderBook("BTCUSDT")
    assert cimport_user.top_of(book)[:2] == (False, False)
    assert cimport_user.apply_bytes(book, SNAPSHOT) == 1
    assert cimport_user.top_of(book) == (True, True, 270000, 2710, True, 270005, 8760, 1, 3)
    assert cimport_user.levels(book, True, 5) == [(270000, 2710), (269995, 1460)]
    assert cimport_user.levels(book, False, 1) == [(270005, 8760)]
    with pytest.raises(bitget_fast.ProtocolError):
        cimport_user.apply_bytes(book, b"{")
    watcher = cimport_user.SpreadWatcher()
    assert isinstance(watcher, bitget_fast.BookHandler)
    watcher.on_book(book)
    assert watcher.spreads == [5]
