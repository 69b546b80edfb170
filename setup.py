"""Build of bitget_fast's compiled core.

The C kernels in src/ are built once as a static library with strict warnings
(-Wall -Wextra -Werror, C99); the Cython modules link it. Environment switches:

  BITGET_FAST_DEBUG=1     Cython checks back on, -O0 -g, asserts enabled
  BITGET_FAST_SANITIZE=1  AddressSanitizer + UndefinedBehaviorSanitizer (implies DEBUG);
                          run Python with LD_PRELOAD=$(gcc -print-file-name=libasan.so)
  BITGET_FAST_ANNOTATE=1  write Cython's HTML annotation next to each .pyx
  BITGET_FAST_COVERAGE=1  Cython line tracing for coverage.py

No -march=native: CPU-specific code is chosen at run time (wheels run elsewhere).
"""

import glob
import os

from Cython.Build import cythonize
from setuptools import Extension, setup


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


SANITIZE = _flag("BITGET_FAST_SANITIZE")
DEBUG = _flag("BITGET_FAST_DEBUG") or SANITIZE
ANNOTATE = _flag("BITGET_FAST_ANNOTATE")
COVERAGE = _flag("BITGET_FAST_COVERAGE")

OPT = ["-O0", "-g", "-UNDEBUG"] if DEBUG else ["-O3"]
SAN = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
       "-fno-sanitize-recover=undefined"] if SANITIZE else []

# Our own C: held to the strictest flags.
C_STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-fvisibility=hidden", *OPT, *SAN]
# Cython's generated C: its code trips -Wextra, so warnings stay warnings there.
C_EXT = [*OPT, *SAN]
MACROS = [("CYTHON_TRACE", "1"), ("CYTHON_TRACE_NOGIL", "1")] if COVERAGE else []

# Each build mode keeps its own build directory: setuptools reuses objects and
# the static library that look up to date, so a release build must never pick
# up a sanitized bf_core (or the reverse).
MODE = "-".join(m for m, on in (("sanitize", SANITIZE), ("debug", DEBUG and not SANITIZE),
                                ("coverage", COVERAGE)) if on) or "release"

CORE = (
    "bf_core",
    {
        "sources": ["src/bf_sha256.c", "src/bf_hmac.c", "src/bf_base64.c", "src/bf_crc32.c",
                    "src/bf_http.c",
                    "src/bf_book.c"],
        "include_dirs": ["src"],
        "cflags": C_STRICT,
    },
)

DIRECTIVES = {
    "language_level": 3,
    "embedsignature": True,
    "cdivision": True,
    # Safe off only because every read of untrusted bytes is bounds-checked by hand.
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "nonecheck": DEBUG,
    "linetrace": COVERAGE,
}


def ext(name: str, *, libraries: tuple[str, ...] = ("bf_core",)) -> Extension:
    return Extension(
        f"bitget_fast.{name}",
        [f"bitget_fast/{name}.pyx"],
        include_dirs=["src"],
        libraries=list(libraries),
        # The static bf_core is not a source of the extension: without this list a
        # change in src/ rebuilds the library but leaves the stale .so linked.
        depends=sorted(glob.glob("src/*.[ch]")),
        define_macros=MACROS,
        extra_compile_args=C_EXT,
        extra_link_args=SAN,
    )


EXTENSIONS = [
    ext("signing"),
    ext("book"),
    ext("wire"),
    ext("_http"),
]

setup(
    options={"build": {"build_base": f"build/{MODE}"}},
    libraries=[CORE],
    ext_modules=cythonize(
        EXTENSIONS,
        compiler_directives=DIRECTIVES,
        annotate=ANNOTATE,
        force=DEBUG or COVERAGE,
    ),
)
