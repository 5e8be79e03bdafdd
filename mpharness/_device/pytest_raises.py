# pytest.raises on the board (module _mphrs<hash>): both forms (context manager with match=,
# and raises(exc, func, *args, **kwargs)), and ExceptionInfo's type, value, typename, match()
# and traceback. _MPHPT is replaced by the board name of the core, on which it sets `raises`.
# MicroPython 1.9 compatible.
# A match is not decided here: boards' `re` differ (the micro:bit has none), so the pattern and
# the message are recorded in the core's _mph_m and the host decides with CPython's re.search
# after the test, as pytest would (a mismatch fails the test).
import sys
import _MPHPT as _P
from _MPHPT import Failed, _mph_m


class ExceptionInfo:
    # class attributes, no __init__: one Python call level less (micro:bit)
    type = None
    value = None

    def __getattr__(s, n):
        # typename, and traceback: the board's traceback lines (no property() on a micro:bit)
        if n == "typename":
            return s.type.__name__ if hasattr(s.type, "__name__") else repr(s.type)
        if n != "traceback":
            raise AttributeError(n)
        try:
            import io

            b = io.StringIO()
            sys.print_exception(s.value, b)
            return b.getvalue().split("\n")[1:-2]
        except Exception:
            return []

    def match(s, p):
        _mph_m.append((p, str(s.value)))
        return True


class RaisesContext:
    def __init__(s, t, m):
        s.t = t
        s.m = m
        s.i = ExceptionInfo()

    def __enter__(s):
        return s.i

    def __exit__(s, t, v, b):
        if t is None:
            raise Failed("DID NOT RAISE " + repr(s.t))
        if not issubclass(t, s.t):
            return False
        s.i.type = t
        s.i.value = v
        if s.m is not None:
            _mph_m.append((s.m, str(v)))  # inline: one call level less (micro:bit)
        return True


def raises(t, *args, **kw):
    if not args:
        return RaisesContext(t, kw.get("match"))
    c = RaisesContext(t, None)
    try:
        args[0](*args[1:], **kw)
    except BaseException as e:
        if not isinstance(e, t):
            raise
        c.i.type = type(e)
        c.i.value = e
        return c.i
    raise Failed("DID NOT RAISE " + repr(t))
_P.raises = raises
