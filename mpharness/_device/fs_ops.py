# Board filesystem helpers for firmware with os.stat (mpharness/files/board_fs.py).
# The host sends the functions an operation needs, then one call with repr() arguments;
# results are printed as repr() lines. Globals start with _mfs so user code is not touched.
try:
    import os as _mfs_os
except ImportError:
    import uos as _mfs_os


def _mfs_isdir(p):
    return _mfs_os.stat(p)[0] & 0x4000


def _mfs_stat(p):
    s = _mfs_os.stat(p)
    print(repr((s[6], s[0] & 0x4000 != 0, s[8])))


def _mfs_ls(p):
    if not _mfs_isdir(p):
        raise OSError(20)
    print(repr(_mfs_os.listdir(p)))


def _mfs_mkdir(p, parents, exist_ok):
    if parents:
        q = ''
        for part in p.split('/')[1:-1]:
            q += '/' + part
            try:
                _mfs_os.mkdir(q)
            except OSError as e:
                if not _mfs_isdir(q):
                    raise e
    try:
        _mfs_os.mkdir(p)
    except OSError as e:
        if not (exist_ok and _mfs_isdir(p)):
            raise e


def _mfs_rmtree(p):
    if not _mfs_isdir(p):
        raise OSError(20)
    for n in _mfs_os.listdir(p):
        q = p.rstrip('/') + '/' + n
        if _mfs_isdir(q):
            _mfs_rmtree(q)
        else:
            _mfs_os.remove(q)
    _mfs_os.rmdir(p)
