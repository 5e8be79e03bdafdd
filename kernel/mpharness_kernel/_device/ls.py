# Board-side directory listing: prints [(name, is_dir, size), ...] for directory p.
# Works without os.stat (micro:bit: flat filesystem, os.size) and without listdir(path).
def _mph_ls(p):
    import os

    try:
        names = os.listdir(p)
    except TypeError:
        names = os.listdir()
    r = []
    for n in names:
        f = n if p in ("", ".") else p.rstrip("/") + "/" + n
        try:
            s = os.stat(f)
            r.append((n, s[0] & 0x4000 != 0, s[6]))
        except AttributeError:
            r.append((n, False, os.size(f)))
    print(repr(r))
