"""Build the example in place: ``python setup.py build_ext --inplace`` (needs Cython and a C
compiler). bitget_fast's installed directory goes on Cython's include path, so the
``cimport``s find its .pxd files; no C header is needed."""

import pathlib

from Cython.Build import cythonize
from setuptools import Extension, setup

import bitget_fast

site = str(pathlib.Path(bitget_fast.__file__).resolve().parent.parent)
setup(name="imbalance_example",
      ext_modules=cythonize([Extension("imbalance", ["imbalance.pyx"])], include_path=[site],
                            language_level=3, quiet=True))
