# The board's pytest (module _mphpt<hash> on the board), imported by every test program: a test
# module's `import pytest` / `from pytest import ...` is rewritten to import it. Only pytest's
# outcome exceptions and the test program's steps: skip/fail/xfail/importorskip, raises and
# approx live in modules of their own (pytest_outcomes.py, pytest_raises.py,
# pytest_approx.py), which the program imports only when the test's code names them; each
# sets its functions on this module when imported (a micro:bit compiles ~7 ms per KB).
# pytest.mark, fixture and param stay on the host (the host leaves out the code using them).
# Kept tiny: a micro:bit compiles it after every soft reset in about 9 KB of heap.
# MicroPython 1.9 compatible: no f-strings, no type hints, no extra call depth (a micro:bit
# allows about 5 nested Python calls).
#
# The host rewrites `assert L == R, M` into the statement list
#     _mph_a = (L); _mph_b = (R); assert _mph_a == _mph_b, ((M), '==', repr(_mph_a), repr(_mph_b))
# so M and the reprs are evaluated only on failure, as in Python, and no Python function is
# called (a call level of its own overflowed the micro:bit's C stack in helpers). The board
# prints AssertionError with that 4-tuple (message or None, operator, repr(L), repr(R)).
# raises(match=...) / ExceptionInfo.match(): (pattern, message) pairs the host checks
_mph_m = []


# pytest's outcomes are BaseExceptions: `except Exception:` in a test does not swallow them.
class OutcomeException(BaseException):
    pass


class Skipped(OutcomeException):
    pass


class Failed(OutcomeException):
    pass


class XFailed(Failed):
    pass


# The test program's steps (pytest_call.py), as functions to keep the program short: a
# micro:bit takes at most 63 bytes at once, so every byte of the per-test program costs.
def b():
    # before the test: forget the matches of an earlier test (isolation module/session)
    while _mph_m:
        _mph_m.pop()
def o(e):
    # the result of a test that ended in an outcome exception: skip/xfail, else re-raised
    r = str(e.args[0]) if e.args else ''
    if isinstance(e, XFailed):
        return 'xfail:' + r
    if isinstance(e, Skipped):
        return 'skip:' + r
    raise e
def e(n, r):
    # print the result frame \x1e NONCE : LEN : PAYLOAD \x1f (matches on a line of their own)
    if _mph_m:
        r += '\n' + repr(_mph_m)
    print('\x1e%d:%d:%s\x1f' % (n, len(r), r))
