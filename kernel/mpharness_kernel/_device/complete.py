# Board-side completion: names visible from a dotted path, filtered by prefix.
# r: root name (None: complete a plain name); m: module to import when r is not a global,
# p: attributes of m leading to r; a: attribute path below r; x: prefix typed so far.
# Prints a list literal.
def _mph_c(r, m, p, a, x):
    g = globals()
    try:
        if r is None:
            d = list(g) + dir(__import__("builtins"))
        else:
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
            d = dir(o)
    except Exception:
        d = []
    print(repr([n for n in d if n[: len(x)] == x and (x[:1] == "_" or n[:1] != "_")]))
