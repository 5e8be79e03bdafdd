# The last statements of an on-board test program: call the test, then print the result frame
# \x1e NONCE : LEN : PAYLOAD \x1f. The host replaces TEST_FUNCTION, TEST_KWARGS and 'NONCE'.
# Module-level code on purpose: a wrapper function would cost one of the micro:bit's few
# levels of call depth. The nonce is in this code only, out of the test's reach.
TEST_FUNCTION(**TEST_KWARGS)
print('\x1e' + 'NONCE' + ':4:pass\x1f')
