# Writing a file: _mfs_wopen opens a temporary file (removing a stale one first), the host
# sends _mfs_w(...) statements, _mfs_wend checks size (and SHA-256 when it can), then renames
# over the target.
try:
    import binascii as _mfs_b
except ImportError:
    try:
        import ubinascii as _mfs_b
    except ImportError:
        _mfs_b = None
_mfs_a = _mfs_b and _mfs_b.a2b_base64
def _mfs_wopen(p, tmp):
    # a temporary file left by an interrupted write of p goes first
    global _mfs_f, _mfs_w
    if tmp != p:
        try:
            _mfs_os.remove(tmp)
        except OSError:
            pass
    try:
        if _mfs_isdir(p):
            raise OSError(21)
    except OSError as e:
        if e.args[0] == 21:
            raise e
    _mfs_f = open(tmp, 'wb')
    _mfs_w = _mfs_f.write


def _mfs_wend(p, tmp, size, digest, sha):
    global _mfs_f, _mfs_w
    if _mfs_f:
        _mfs_f.close()
    _mfs_f = _mfs_w = None
    ok = _mfs_os.stat(tmp)[6] == size
    if ok and sha:
        ok = sha(tmp, bytearray(1024)) == digest
    if not ok:
        _mfs_os.remove(tmp)
        raise OSError(5)
    if tmp == p:
        return
    _mfs_mv(tmp, p)
    try:
        _mfs_os.stat(tmp)
    except OSError:
        return
    raise OSError(5)


def _mfs_mv(a, b):
    # Rename a over b (same directory) by name from inside the directory: the unix port's
    # VfsPosix, mounted below /, garbles two absolute paths. FAT cannot rename over a file.
    c = _mfs_os.getcwd()
    _mfs_os.chdir(a.rsplit('/', 1)[0] or '/')
    try:
        a, b = a.rsplit('/', 1)[1], b.rsplit('/', 1)[1]
        try:
            _mfs_os.rename(a, b)
        except OSError:
            _mfs_os.remove(b)
            _mfs_os.rename(a, b)
    finally:
        _mfs_os.chdir(c)
