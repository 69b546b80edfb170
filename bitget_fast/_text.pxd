# Private: inline helpers for reading Python str as bytes without a copy, shared by the
# compiled modules (signing, _http). Nothing here is promised to cimporters.

cdef extern from "Python.h":
    bint PyUnicode_IS_COMPACT_ASCII(object s)
    void *PyUnicode_DATA(object s)
    Py_ssize_t PyUnicode_GET_LENGTH(object s)
    const char *PyUnicode_AsUTF8AndSize(object s, Py_ssize_t *size) except NULL


cdef inline const char *ascii_view(str s, Py_ssize_t *size, str what) except NULL:
    """An ASCII str's own bytes (no copy) and length; TypeError for None, ValueError if not ASCII."""
    # Compact ASCII strings (what Python makes for every ASCII literal or decode) are
    # read in place with no call; any other str goes through its UTF-8 form.
    if s is None:
        raise TypeError(f"{what} must be str, not None")
    if PyUnicode_IS_COMPACT_ASCII(s):
        size[0] = PyUnicode_GET_LENGTH(s)
        return <const char *>PyUnicode_DATA(s)
    cdef const char *p = PyUnicode_AsUTF8AndSize(s, size)
    if size[0] != PyUnicode_GET_LENGTH(s):
        raise ValueError(f"{what} must be ASCII: {s!r}")
    return p
