# Board-side file read: prints the file as bytes literals, one line per n-byte chunk.
def _mph_read(p, n):
    f = open(p, "rb")
    while True:
        b = f.read(n)
        if not b:
            break
        print(repr(b))
    f.close()
