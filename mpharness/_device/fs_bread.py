# Binary read (sys.stdout.buffer): "<size>\n", the data with 0x10, 0x04 and '>' escaped
# (0x10 then e, d, g), 0x10 'z', then the escaped SHA-256 digest of the data when sha is true.
# Needs fs_ops.py, and fs_hash.py when hashing. See mpharness/files/binary.py.
import sys as _mfs_sys


def _mfs_esc(b):
    return b.replace(b'\x10', b'\x10e').replace(b'\x04', b'\x10d').replace(b'>', b'\x10g')


def _mfs_bread(p, n, sha):
    if _mfs_isdir(p):
        raise OSError(21)
    w = _mfs_sys.stdout.buffer.write
    w(str(_mfs_os.stat(p)[6]).encode() + b'\n')
    h = _mfs_hl.sha256() if sha else None
    f = open(p, 'rb')
    try:
        while 1:
            b = f.read(n)
            if not b:
                break
            if h is not None:
                h.update(b)
            w(_mfs_esc(b))
    finally:
        f.close()
    w(b'\x10z')
    if h is not None:
        w(_mfs_esc(h.digest()))
