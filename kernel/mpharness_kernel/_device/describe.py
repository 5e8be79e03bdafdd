# Board-side inspection of a dotted name: prints a tuple literal
# (type name, repr (cut), docstring or None, public names for modules and classes or None),
# or None when the name does not resolve. Arguments as for complete.py (no prefix).
def _mph_i(r, m, p, a):
    g = globals()
    try:
        if r in g:
            o = g[r]
        elif m:
            o = __import__(m)
            for n in p:
                o = getattr(o, n)
        else:
            o = getattr(__import__("builtins"), r)
        for n in a:
            o = getattr(o, n)
    except Exception:
        print("None")
        return
    t = type(o)
    k = getattr(t, "__name__", str(t))
    d = getattr(o, "__doc__", None)
    s = None
    if k in ("module", "type"):
        s = sorted([n for n in dir(o) if n[:1] != "_"])
    print(repr((k, repr(o)[:400], d if isinstance(d, str) else None, s)))
