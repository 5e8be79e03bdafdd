# Board-side SHA-256 of files ps: prints a list of hex digests, or None without hashlib.
def _mph_hash(ps):
    try:
        import hashlib
    except ImportError:
        try:
            import uhashlib as hashlib
        except ImportError:
            print("None")
            return
    try:
        import binascii
    except ImportError:
        import ubinascii as binascii
    r = []
    for p in ps:
        h = hashlib.sha256()
        f = open(p, "rb")
        while True:
            b = f.read(512)
            if not b:
                break
            h.update(b)
        f.close()
        r.append(binascii.hexlify(h.digest()).decode())
    print(repr(r))
