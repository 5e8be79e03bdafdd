# SHA-256 of board files (needs hashlib); prints repr() of the raw digest (host makes hex).
try:
    import hashlib as _mfs_hl
except ImportError:
    import uhashlib as _mfs_hl


def _mfs_sha(p, buf):
    h = _mfs_hl.sha256()
    f = open(p, 'rb')
    while 1:
        n = f.readinto(buf)
        if not n:
            break
        h.update(buf[:n] if n < len(buf) else buf)
    f.close()
    return h.digest()
