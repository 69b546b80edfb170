# A Cython user of bitget_fast's public .pxd: signs into its own buffer, no Python objects.
from bitget_fast.signing cimport Signer, SIGNATURE_LEN


def sign_raw(Signer signer, bytes prehash):
    cdef char out[SIGNATURE_LEN]
    signer.sign_into(prehash, len(prehash), out)
    return out[:SIGNATURE_LEN]


def sign_parts(Signer signer, long long ts, bytes method, bytes path, bytes query, bytes body):
    cdef char out[SIGNATURE_LEN]
    signer.sign_parts_into(ts, method, len(method), path, len(path), query, len(query),
                           body, len(body), out)
    return out[:SIGNATURE_LEN]


def signature_len():
    return SIGNATURE_LEN


def sign_negative_size(Signer signer):
    # A bad length from C code must not read out of bounds: it signs b"".
    cdef char out[SIGNATURE_LEN]
    signer.sign_into(b"", -1, out)
    return out[:SIGNATURE_LEN]
