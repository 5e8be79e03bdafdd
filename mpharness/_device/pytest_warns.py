# pytest.warns and a `warnings` module on the board (module _mphwn<hash>): MicroPython has
# neither a warnings module nor warning classes. A test module's `import warnings` /
# `from warnings import warn` is rewritten by the host to import this module, which
# - defines Warning, UserWarning, DeprecationWarning, PendingDeprecationWarning and
#   RuntimeWarning, and puts the ones the board lacks into builtins,
# - has warn(message, category=None, stacklevel=1): records the warning in every active
#   pytest.warns() (no output otherwise: pytest keeps warnings out of a test's output too),
# - sets warns and deprecated_call on the board's pytest (_MPHPT).
# A match= is not decided here (the micro:bit has no `re`): the pattern and the messages of
# the warnings of the wanted category go to the core's _mph_m as (pattern, [messages]), and
# the host passes the test when one of them matches (re.search), as pytest does.
# The checker is a sequence of WarningMessage (len, [i]); kept small: a micro:bit compiles it
# after every reset in its ~9 KB heap. MicroPython 1.9 compatible.
import builtins
import _MPHPT as _P
from _MPHPT import Failed, _mph_m


class Warning(Exception):
    pass


class UserWarning(Warning):
    pass


class DeprecationWarning(Warning):
    pass


class PendingDeprecationWarning(Warning):
    pass


class RuntimeWarning(Warning):
    pass


# the board's own classes where it has them (a CPython board), else ours, put into builtins
for _n in (
    "Warning",
    "UserWarning",
    "DeprecationWarning",
    "PendingDeprecationWarning",
    "RuntimeWarning",
):
    if hasattr(builtins, _n):
        globals()[_n] = getattr(builtins, _n)
    else:
        setattr(builtins, _n, globals()[_n])
_active = []


class WarningMessage:
    # one recorded warning: .message (a Warning instance), .category (its class); set after
    # construction, no __init__: a micro:bit has about four levels of Python calls, and the
    # code under test is already some of them when it warns
    message = None
    category = None


def warn(message, category=None, stacklevel=1, source=None):
    if isinstance(message, Warning):
        category = type(message)
    else:
        category = category or UserWarning
        message = category(message)
    for r in _active:
        w = WarningMessage()
        w.message = message
        w.category = category
        r.list.append(w)


class WarningsChecker:
    def __init__(s, t, m):
        s.t = t
        s.m = m
        s.list = []

    def __len__(s):
        return len(s.list)

    def __getitem__(s, i):
        return s.list[i]

    def __enter__(s):
        _active.append(s)
        return s

    def __exit__(s, t, v, b):
        _active.remove(s)
        if t is not None:
            return False
        # loops, not comprehensions (one call level more), and a message's text from its
        # args, not str(): both cost C stack a micro:bit does not have at this depth
        found = []
        seen = []
        for w in s.list:
            a = w.message.args
            seen.append(a[0] if len(a) == 1 else a)
            if issubclass(w.category, s.t):
                found.append(seen[-1])
        if not found:
            raise Failed(
                "DID NOT WARN. No warnings of type %r were emitted.\n"
                " Emitted warnings: %r." % (s.t, seen)
            )
        if s.m is not None:
            _mph_m.append((s.m, found))
        return False


def warns(t=Warning, *args, **kw):
    if not args:
        return WarningsChecker(t, kw.get("match"))
    c = WarningsChecker(t, None)
    c.__enter__()
    try:
        r = args[0](*args[1:], **kw)
    except BaseException:
        _active.remove(c)
        raise
    c.__exit__(None, None, None)
    return r


def deprecated_call(*args, **kw):
    return warns((DeprecationWarning, PendingDeprecationWarning), *args, **kw)


_P.warns = warns
_P.deprecated_call = deprecated_call
