"""Who may use a board: leases (one session per board per host), pools and hand-over.

Owns: ``flock`` (lock files), ``leases`` (acquire/release/wait, holder records) and
``board_pool`` (which leases a spec needs, the first free board of a pool).

May import: ``errors``, ``deadline``, ``rigs/``, ``transports`` (URL schemes).
"""
