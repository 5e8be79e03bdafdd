# mpharness on-board test helper, sent to the board ahead of every on-board test.
# Keep it tiny and MicroPython 1.9 compatible (16 KB boards): no f-strings, no type hints,
# and no extra call depth (a micro:bit allows about 5 nested Python calls).
# Lines starting with '#' and blank lines are dropped on the host; 4-space indents shrink.
# The host rewrites `assert L == R, M` into
#     _mph_a = (L); _mph_b = (R); _mph_a == _mph_b or _mph_f((M), '==', _mph_a, _mph_b)
# so M is evaluated only on failure, as in Python. _MphF's args are
# (message or None, operator ('' for a plain assert, 'fail' for pytest.fail), repr(L), repr(R)).
class _MphF(AssertionError):
    pass
def _mph_f(m, o, a, b):
    raise _MphF(None if m is None else str(m), o, repr(a)[:800], repr(b)[:800])
