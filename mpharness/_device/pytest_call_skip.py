# As pytest_call.py, for tests that may call pytest.skip() on the board (pytest_shim.py is sent).
try:
    TEST_FUNCTION(**TEST_KWARGS)
    _mph_o = 'pass'
except _MphS as e:
    _mph_o = 'skip:' + (str(e.args[0]) if e.args else '')
print('\x1e' + 'NONCE' + ':' + str(len(_mph_o)) + ':' + _mph_o + '\x1f')
