# pytest.approx on the board (module _mphap<hash>): numbers, and lists, tuples and dicts of
# numbers (not nested), with pytest's tolerance: max(rel * |expected|, abs), rel 1e-6 and abs
# 1e-12 by default; only abs given: abs alone. MicroPython 1.9 compatible. Single-precision
# boards (micro:bit) round at about 1e-7. The host writes `x == approx(y)` in an assert as
# `approx(y) == x`: a micro:bit float raises TypeError instead of asking Approx.__eq__.
class Approx:
    def __init__(s, e, rel=None, abs=None):
        s.e = e
        s.rel = rel
        s.abs = abs

    def _one(s, x, e):
        # one number against one expected value; inline, no further calls (micro:bit depth)
        if not isinstance(e, (int, float)) or isinstance(e, bool):
            return x == e
        if not isinstance(x, (int, float)) or isinstance(x, bool):
            return False
        if x == e:
            return True
        t = (s.rel if s.rel is not None else 1e-6) * (e if e >= 0 else -e)
        if s.abs is not None:
            t = s.abs if s.rel is None or s.abs > t else t
        elif t < 1e-12:
            t = 1e-12
        d = x - e
        return (d if d >= 0 else -d) <= t

    def __eq__(s, x):
        e = s.e
        if isinstance(e, dict):
            if not isinstance(x, dict) or len(x) != len(e):
                return False
            for k in e:
                if k not in x or not s._one(x[k], e[k]):
                    return False
            return True
        if isinstance(e, (list, tuple)):
            if not isinstance(x, (list, tuple)) or len(x) != len(e):
                return False
            for i in range(len(e)):
                if not s._one(x[i], e[i]):
                    return False
            return True
        return s._one(x, e)

    def __ne__(s, x):
        return not s.__eq__(x)

    def __repr__(s):
        e = s.e
        return "approx(" + repr(e) + ")"
# pytest.approx is the class itself: a wrapper function would cost a call level (micro:bit)
import _MPHPT as _P
_P.approx = Approx
