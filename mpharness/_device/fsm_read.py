# Reading on small boards without binascii: the size, then one repr(bytes) line per chunk.
def _mfs_rd(p, n):
    import os
    print(os.size(p))
    f = open(p, 'rb')
    while 1:
        b = f.read(n)
        if not b:
            break
        print(repr(b))
    f.close()
