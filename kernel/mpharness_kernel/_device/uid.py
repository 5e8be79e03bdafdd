# Board-side: print machine.unique_id() as a hex string literal (raises on boards without it).
def _mph_uid():
    import machine

    print(repr("".join("%02x" % b for b in machine.unique_id())))
