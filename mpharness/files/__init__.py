"""A board's filesystem from the host: ``board.fs``, file transfers and hash-based sync.

Owns: :class:`~mpharness.files.board_fs.BoardFS` (the facade), the single-exec primitives
it is built on (``ops``), the transfer strategies (``transfers``, ``binary``), board errors
as host ``OSError`` (``device``) and ``sync``.

May import: ``errors``, ``deadline``, ``session/`` (through ``Board``'s public methods),
``rigs.boardspec`` (data only, for sync plans from rig resources).
"""
