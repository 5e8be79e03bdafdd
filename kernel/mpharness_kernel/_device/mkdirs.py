# Board-side mkdir -p: creates every missing directory of path p (EEXIST is fine).
def _mph_mkdirs(p):
    import os

    q = ""
    for part in p.split("/"):
        if not part:
            q = q or "/"
            continue
        q = q.rstrip("/") + "/" + part if q else part
        try:
            os.mkdir(q)
        except OSError as e:
            if e.args[0] != 17:
                raise
