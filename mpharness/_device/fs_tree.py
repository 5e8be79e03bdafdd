# Every file below a root in one round trip: one repr((path, size, digest-or-None)) line each.
# Needs fs_ops.py; fs_hash.py too when hashing (else _mfs_sha is None).
def _mfs_tree(root, sha):
    buf = bytearray(1024) if sha else None
    if not _mfs_isdir(root):
        raise OSError(20)
    todo = [root.rstrip('/') or '']
    while todo:
        d = todo.pop()
        for n in _mfs_os.listdir(d or '/'):
            q = d + '/' + n
            s = _mfs_os.stat(q)
            if s[0] & 0x4000:
                todo.append(q)
            else:
                print(repr((q, s[6], sha(q, buf) if sha else None)))
