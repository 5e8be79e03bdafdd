"""Rig files: YAML naming the boards, their data model, ``${VAR}`` substitution, discovery.

Owns: ``boardspec`` (frozen ``BoardSpec`` values), ``rig_file`` (YAML to specs, errors that
name file, line and key), ``substitution``, ``rig`` (board name or URL to a spec) and
``discovery`` (``mpharness devices``).

May import: ``errors``, ``transports`` (URL schemes, port listing): rigs sit beside
``session/``, so ``files.sync`` may read rig resources. Nothing here opens a board.
"""
