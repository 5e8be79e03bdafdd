# Flat filesystem (micro:bit: os has listdir/size/remove only): one repr((name, size)) line each.
def _mfs_ls():
    import os
    for n in os.listdir():
        print(repr((n, os.size(n))))
