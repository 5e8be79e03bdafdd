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


# Skips and xfails end the test's program; the host reads them from the board's traceback by
# these names, which no test's own exception class is likely to have.
class MphSkipped(OutcomeException):
    pass


class Failed(OutcomeException):
    pass


class MphXFailed(Failed):
    pass


# The test program's helpers (the host's program.py): b() before a test that can record
# matches, e() in its report statement.
def b():
    # before the test: forget the matches of an earlier test (isolation module/session); the
    # program calls it only when the test's code can record matches (it names raises)
    while _mph_m:
        _mph_m.pop()
def e(n, r):
    # print the result frame \x1e NONCE : LEN : PAYLOAD \x1f (matches on a line of their own)
    if _mph_m:
        r += '\n' + repr(_mph_m)
    print('\x1e%d:%d:%s\x1f' % (n, len(r), r))
