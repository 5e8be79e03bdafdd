# A checked piece of a write (noisy links, data sent outside the integrity envelope): b goes
# to offset o of the open temporary file only if it matches d, the first 8 bytes of
# SHA-256(str(o) + b). Repeatable, so the host may resend a piece. Needs fs_write, fs_hash.
def _mfs_wp(o, b, d):
    h = _mfs_hl.sha256(str(o).encode())
    h.update(b)
    if h.digest()[:8] != d:
        raise ValueError('mph-damaged')
    _mfs_f.seek(o)
    _mfs_w(b)
