# Checked exec (see mpharness/session/integrity.py): c is the code (bytes, or a str: n counts its
# characters, the checksum reads its UTF-8 bytes), k its checksum xor the nonce m. Runs c only
# if both match, after printing the start tag; then prints the end marker. Kept terse: it is
# sent again after every reset. _mph_v prints a value, the tag again and the repr's checksum.
def _mph_k(b):
    return int.from_bytes(b,'little')%2147483629
def _mph_x(c,n,k,m):
    if len(c)!=n or _mph_k(c)^m!=k:raise OSError('mph-integrity')
    print('\x1c',end='');exec(c,globals());print('\x1e%d\x1f'%m)
def _mph_v(v):
    r=repr(v);print('\x1d%s\x1d%d'%(r,_mph_k(bytes(r,'utf8'))))
