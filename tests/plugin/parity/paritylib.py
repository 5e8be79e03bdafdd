"""A helper module beside the parity tests (shipped to the board as `paritylib`)."""

FACTOR = 3


def triple(x):
    return x * FACTOR


def check_positive(x):
    assert x > 0, "not positive"
    return x
