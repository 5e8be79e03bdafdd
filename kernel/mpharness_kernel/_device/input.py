# Board-side input() for the kernel, defined in the board's globals when a cell calls input(...)
# and the board has no `input` global yet: the host defines input = _mph_input(KEY) and deletes
# the factory, so the session key lives only in this closure (as display.py's). It prints an
# input frame \x1e?KEY PROMPT\x1f (the host answers with a Jupyter input_request) and reads the
# answer line from stdin without echo. The host sends \x04 when the frontend allows no stdin:
# input() then raises EOFError.
def _mph_input(key):
    def input(prompt=""):
        import sys
        print("\x1e?" + key + " " + str(prompt) + "\x1f", end="")
        line = sys.stdin.readline()
        if line[:1] == "\x04":
            raise EOFError("input(): this frontend does not send input (stdin is not allowed)")
        return line.rstrip("\r\n")

    return input
