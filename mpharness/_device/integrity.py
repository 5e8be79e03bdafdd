# Checked exec: the code arrives as data (bytes, or a str: its length in characters, its
# checksum over its UTF-8 bytes) with its length and checksum (xor the nonce); it
# runs only if both match (after printing the start tag), then prints the end marker. _mph_v prints a value with its checksum.
def _mph_k(b):
    return int.from_bytes(b, 'little') % 2147483629
def _mph_x(c, n, k, m):
    if len(c) != n or _mph_k(c) ^ m != k:
        raise OSError('mph-integrity')
    print('\x1c', end='')
    exec(c, globals())
    print('\x1e%d\x1f' % m)
def _mph_v(v):
    r = repr(v)
    print('\x1d%s\x1d%d' % (r, _mph_k(bytes(r, 'utf8'))))
