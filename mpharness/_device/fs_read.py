# Print a file: its size, then one line per chunk: base64 (enc is b2a_base64) or repr(bytes).
try:
    import binascii as _mfs_b
except ImportError:
    try:
        import ubinascii as _mfs_b
    except ImportError:
        _mfs_b = None
_mfs_b2a = _mfs_b and _mfs_b.b2a_base64


def _mfs_read(p, n, enc):
    if _mfs_isdir(p):
        raise OSError(21)
    print(_mfs_os.stat(p)[6])
    f = open(p, 'rb')
    while 1:
        b = f.read(n)
        if not b:
            break
        print(enc(b)[:-1].decode() if enc else repr(b))
    f.close()
