# Board-side rich output helper, defined in the board's globals by the kernel when a cell
# calls display(...) and the board has no `display` yet. Runs on MicroPython 1.9.2 and later.
# Prints one display frame: \x1e!KEY MIME PAYLOAD\x1f (decoded by mpharness_kernel.cells).
# KEY is the kernel session's secret: the host defines display = _mph_display(KEY) and
# deletes the factory, so the key lives only in this closure (MicroPython functions expose no
# closure cells) and board output that merely looks like a frame stays plain text.
# bytes -> base64 (or hex: + hex digits without binascii); other data for a JSON MIME type
# -> repr(), read on the host as a Python literal (no json module needed); else str().
def _mph_display(key):
    def display(data, mime=None):
        if mime is None:
            if isinstance(data, (bytes, bytearray)):
                mime = "image/jpeg" if data[:2] == b"\xff\xd8" else "image/png"
            else:
                mime = "application/json"
        print("\x1e!" + key + " " + mime + " ", end="")
        if isinstance(data, (bytes, bytearray)):
            try:
                import binascii
            except ImportError:
                try:
                    import ubinascii as binascii
                except ImportError:
                    binascii = None
            if binascii:
                print(binascii.b2a_base64(data).decode().strip(), end="")
            else:
                print("hex:", end="")
                for b in data:
                    print("%02x" % b, end="")
        elif mime[-4:] == "json":
            print(repr(data), end="")
        else:
            print(data if isinstance(data, str) else str(data), end="")
        print("\x1f")

    return display
