"""Who may use a board: leases (one session per board per host), pools and hand-over.

Owns: ``lock_dir`` (the lock directory: choice, safety checks, safe file opening),
``flock`` (trying and racing locks), ``leases`` (acquire/release/wait, holder records) and
``board_pool`` (which leases a spec needs, the first free board of a pool).

May import: ``errors``, ``deadline``, ``secret``, ``rigs/``, ``transports`` (URL schemes).
"""
