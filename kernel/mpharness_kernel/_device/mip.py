# Board-side package install with mip (MicroPython >= 1.20) or upip (older), network needed.
# n: package names, t: target directory or None, u: use upip.
def _mph_mip(n, t, u):
    if u:
        import upip

        for p in n:
            upip.install(p, t) if t else upip.install(p)
        return
    import mip

    for p in n:
        if t:
            mip.install(p, target=t)
        else:
            mip.install(p)
