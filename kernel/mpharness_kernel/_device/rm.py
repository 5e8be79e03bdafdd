# Board-side remove: a file, an empty directory, or (r true) a directory tree.
def _mph_rm(p, r):
    import os

    def rm(p):
        try:
            d = os.stat(p)[0] & 0x4000
        except AttributeError:
            d = 0
        if d and r:
            for n in os.listdir(p):
                rm(p.rstrip("/") + "/" + n)
        if d:
            os.rmdir(p)
        else:
            os.remove(p)

    rm(p)
