"""The board session: one board's raw REPL driven over a transport, under deadlines.

Owns: :class:`~mpharness.session.link.Link` (the engine's only I/O loop: write what the
protocol machine releases, read under a deadline, hand back events), the exec strategies
(plain frames, small-board uploads, checked execs), the recovery ladder, and
:class:`~mpharness.session.board.Board`, the public facade that composes them.

May import: ``errors``, ``deadline``, ``protocol/``, ``transports.base``. Strategies and
recovery take the :class:`Link`, never the ``Board``; only ``board.py`` composes them.
"""
