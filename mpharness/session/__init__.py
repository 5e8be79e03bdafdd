"""The board session: one board's raw REPL driven over a transport, under deadlines.

Owns: :class:`~mpharness.session.link.Link` (the engine's only I/O loop: write what the
protocol machine releases, read under a deadline, hand back events), the exec strategies
(plain frames, small-board uploads, checked execs), the recovery ladder, and
:class:`~mpharness.session.repl_session.ReplSession`, the facade that composes them
(:class:`mpharness.Board` is a ``ReplSession`` with a filesystem, one layer up).

Inside, from the bottom: ``output``, ``results``, ``chunking``, ``literals``, ``device_code``,
``tracebacks``, ``integrity``, ``values`` (pure helpers) <- ``link`` (the I/O loop) <-
``recovery`` <- ``frame_exec`` <- ``small_upload`` <- ``checked_exec`` <- ``repl_session``.
Strategies and recovery take the :class:`~mpharness.session.link.Link`, never the session
object.

May import: ``errors``, ``deadline``, ``protocol/``, ``transports.base``; nothing above.
"""
