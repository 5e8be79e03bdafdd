# The per-test program: import the test's module (its top level runs as on the host), call the
# test, then print the result frame \x1e NONCE : LEN : PAYLOAD \x1f; the payload is the outcome,
# then the recorded regex matches (see pytest_raises.py) on a line of their own. The host
# replaces _MPHPT, the IMPORTS line (every board module the test needs, dependencies first, so
# none is compiled inside another's import: a micro:bit runs out of C stack), the TEST_CALL
# line and NONCE (a decimal int literal: no string is interned per test).
# Module-level code on purpose: a wrapper function would cost one of the micro:bit's few
# levels of call depth. The nonce is in this program only, out of the test's reach.
import _MPHPT as _mph_p

while _mph_p._mph_m:
    _mph_p._mph_m.pop()
try:
    IMPORTS
    TEST_CALL
    _mph_o = "pass"
except _mph_p.OutcomeException as _mph_e:
    _mph_o = _mph_p._outcome(_mph_e)
    if _mph_o is None:
        raise
if _mph_p._mph_m:
    _mph_o += "\n" + repr(_mph_p._mph_m)
print("\x1e%d:%d:%s\x1f" % (NONCE, len(_mph_o), _mph_o))
