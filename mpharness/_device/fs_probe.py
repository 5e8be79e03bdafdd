# What the board's filesystem API offers: printed as one repr() tuple.
# Last: whether raw bytes can go out (sys.stdout.buffer) and into bytes literals (MicroPython).
def _mfs_probe():
    import os
    import sys
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
    out = getattr(sys, 'stdout', None)
    impl = getattr(sys, 'implementation', None)
    has.append(hasattr(out, 'buffer') and getattr(impl, 'name', '') == 'micropython')
    print(repr(tuple(has)))
