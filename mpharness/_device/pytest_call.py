# The per-test program: import the test's module (its top level runs as on the host), call the
# test, then print the result frame (core's e()). The host replaces _MPHPT, the IMPORTS line
# (every board module the test needs, dependencies first, so none is compiled inside
# another's import: a micro:bit runs out of C stack), the TEST_CALL line and NONCE (a
# decimal int literal: no string is interned per test). Module-level code on purpose: a
# wrapper function would cost one of the micro:bit's few levels of call depth. The nonce is
# in this program only, out of the test's reach. Short names: every byte is sent per test.
import _MPHPT as _P
_P.b()
try:
    IMPORTS
    TEST_CALL
    _R = 'pass'
except _P.OutcomeException as _E:
    _R = _P.o(_E)
_P.e(NONCE, _R)
