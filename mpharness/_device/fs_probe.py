# What the board's filesystem API offers: printed as one repr() tuple.
def _mfs_probe():
    import os
    has = [hasattr(os, n) for n in ('stat', 'ilistdir', 'rename', 'mkdir')]
    for names in (('binascii', 'ubinascii'), ('hashlib', 'uhashlib')):
        found = 0
        for n in names:
            try:
                __import__(n)
                found = 1
                break
            except ImportError:
                pass
        has.append(found)
    try:
        import gc
        gc.collect()
        has.append(gc.mem_free())
    except (ImportError, AttributeError):
        has.append(0)
    print(repr(tuple(has)))
