"""What a rig file says about one board: the ``BoardSpec`` data model.

Theory of operation: ``mpharness.rigs.rig_file`` turns rig-file YAML into frozen ``BoardSpec``
values.
Every string it reads is stored as a :class:`RigText`, a ``str`` that also remembers the file,
line and dotted key it came from. Such strings are ``${VAR}`` templates (see
``mpharness.rigs.substitution``): their syntax is checked when the file is loaded, but variables are
substituted only when the value is used: :meth:`BoardSpec.expand_vars` (all fields but the
password; ``Rig.resolve`` calls it) and :meth:`BoardSpec.webrepl_password` (only when a
WebREPL link needs it). So a rig file that mentions ``${WIFI_BOARD_PASSWORD}`` loads, and other
boards in it work, while that variable is unset; using that board's password is what fails,
with a ``ConfigError`` naming file, line, key and variable. Plain ``str`` values (a spec built
in code, or a URL given on the command line) are literal: no substitution ever.

The password is kept out of ``repr``/``str`` and out of every error message.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mpharness.errors import ConfigError
from mpharness.rigs import substitution
from mpharness.secret import Secret, redact_url

__all__ = [
    "PASSWORD_ENV",
    "RESET_MODES",
    "BoardSpec",
    "Resource",
    "RigText",
    "Source",
    "expand_text",
]

#: Environment variable holding the WebREPL password for boards whose spec has none.
PASSWORD_ENV = "MPHARNESS_WEBREPL_PASSWORD"

#: Values of the ``reset`` key: how the board is reset to isolate tests (see BoardSpec.reset).
RESET_MODES = ("soft", "hard", "machine", "none")
#: Values of the ``integrity`` key (see BoardSpec.integrity).
INTEGRITY_MODES = ("auto", "checked", "off")


class RigText(str):
    """A string read from a rig file, remembering where; a ``${VAR}`` template.

    Compares, hashes and prints as the plain text written in the file.

    Attributes:
        path: the rig file.
        line: 1-based line of the value.
        key: dotted key, e.g. ``boards.esp32.password``.
        bare: whether ``$NAME`` (without braces) is substituted too (IoT-Kernel host paths).
    """

    path: str | None
    line: int | None
    key: str | None
    bare: bool

    def __new__(
        cls,
        value: str,
        *,
        path: str | None = None,
        line: int | None = None,
        key: str | None = None,
        bare: bool = False,
    ) -> RigText:
        self = super().__new__(cls, value)
        self.path, self.line, self.key, self.bare = path, line, key, bare
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (_make_rig_text, (str(self), self.path, self.line, self.key, self.bare))


def _make_rig_text(
    value: str, path: str | None, line: int | None, key: str | None, bare: bool
) -> RigText:
    return RigText(value, path=path, line=line, key=key, bare=bare)


def expand_text(value: str, environ: Mapping[str, str] | None = None) -> str:
    """Substitute ``${VAR}`` in a rig-file string; plain ``str`` values come back unchanged.

    Raises:
        ConfigError: a variable without default is unset (names file, line, key, variable).
    """
    if not isinstance(value, RigText):
        return value
    env = os.environ if environ is None else environ
    try:
        return substitution.expand(value, env, bare=value.bare)
    except substitution.MissingVariable as exc:
        raise ConfigError(
            f"environment variable {exc.name!r} is not set (set it, or write "
            f"${{{exc.name}:-default}} in the rig file)",
            path=value.path,
            line=value.line,
            key=value.key,
        ) from None
    except substitution.TemplateSyntaxError as exc:  # only for RigText built by hand
        raise ConfigError(str(exc), path=value.path, line=value.line, key=value.key) from None


def _expand_opt(value: str | None, environ: Mapping[str, str] | None) -> str | None:
    return None if value is None else expand_text(value, environ)


def _expand_all(values: tuple[str, ...], environ: Mapping[str, str] | None) -> tuple[str, ...]:
    return tuple(expand_text(value, environ) for value in values)


@dataclass(frozen=True)
class Source:
    """Where a board was defined: rig file, 1-based line of its name, dotted key."""

    path: str
    line: int
    key: str = ""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class Resource:
    """One host file or directory to copy to the board (IoT-Kernel ``resources`` entry).

    Attributes:
        path: the file or directory name on the host, as written. Looked up in ``lib`` if
            given, else in the board's ``libs``, else relative to the rig file's directory.
        install_dir: directory on the board to copy it into; None means the board's
            ``install_dir``, else ``/``.
        unpack: True copies a directory's contents, False the directory itself; None means
            the board's ``unpack``, else IoT Kernel's rule (unpack a directory unless it is a
            package, i.e. has ``__init__.py``).
        lib: host directory holding ``path`` (IoT Kernel's per-resource ``path``/``lib``).
        include_patterns: globs of files to copy from a directory (empty: board's or default).
        exclude_patterns: globs of files to leave out (empty: board's or default).
    """

    path: str
    install_dir: str | None = None
    unpack: bool | None = None
    lib: str | None = None
    include_patterns: tuple[str, ...] = ()
    exclude_patterns: tuple[str, ...] = ()

    def expand_vars(self, environ: Mapping[str, str] | None = None) -> Resource:
        """A copy with ``${VAR}`` substituted in every string (see BoardSpec.expand_vars)."""
        return dataclasses.replace(
            self,
            path=expand_text(self.path, environ),
            install_dir=_expand_opt(self.install_dir, environ),
            lib=_expand_opt(self.lib, environ),
            include_patterns=_expand_all(self.include_patterns, environ),
            exclude_patterns=_expand_all(self.exclude_patterns, environ),
        )


@dataclass(frozen=True, repr=False)
class BoardSpec:
    """Everything the harness knows about one board before connecting to it.

    Attributes:
        name: the rig name (for a board given by URL: the URL itself).
        urls: links to try, in order (the first that opens wins). Empty only for a board from
            an IoT-Kernel device file that has a ``uid`` but no ``url`` (to be found by uid).
        password: WebREPL password as written (maybe a ``${VAR}`` template), kept as a
            :class:`~mpharness.secret.Secret` (a ``str`` given here is wrapped); never shown.
            Use :meth:`webrepl_password`.
        uid: the board's unique id (``machine.unique_id()`` as hex, any separators), which
            the engine checks after connecting.
        baudrate: serial speed; None means the transport's default (115200).
        features: free-form tags tests can require (e.g. ``wifi``, ``sdcard``).
        resources: host files/dirs to copy to the board (IoT-Kernel meaning).
        install_dir: default board directory for resources.
        libs: host directories where resources are looked up (IoT-Kernel meaning).
        unpack: default ``unpack`` for resources.
        include_patterns: default globs of files to copy from resource directories.
        exclude_patterns: default globs of files to leave out.
        reset: how tests are isolated: ``soft`` (Ctrl-D soft reboot, the default), ``hard``
            (reset through the link: DTR/RTS pulse, respawn of a virtual board), ``machine``
            (run ``machine.reset()`` on the board and reconnect: for links without reset
            lines, e.g. WebREPL or native USB), ``none`` (never reset; tests share state).
        integrity: ``checked`` (code runs only if it arrived intact, values come back
            checksummed: :mod:`mpharness.session.integrity`), ``off`` (plain raw REPL), or ``auto``
            (the default: checked on links that can damage bytes, i.e. UART bridges, RFC 2217
            and unknown ports; off on native-USB boards, virtual boards, WebREPL and SSH:
            see ``Transport.may_corrupt``).
        timeout_s: default budget in seconds for one board operation; None: caller's default.
        description: free text for listings.
        firmware: firmware file to flash before a pytest session that asks for it
            (``--board-flash``); relative to the rig file's directory. See :meth:`firmware_file`.
        firmware_erase: erase the whole flash before writing ``firmware``.
        source: where the board was defined; None for built-ins and URLs.
    """

    name: str
    urls: tuple[str, ...] = ()
    password: Secret | None = field(default=None, repr=False)
    uid: str | None = None
    baudrate: int | None = None
    features: tuple[str, ...] = ()
    resources: tuple[Resource, ...] = ()
    install_dir: str | None = None
    libs: tuple[str, ...] = ()
    unpack: bool | None = None
    include_patterns: tuple[str, ...] = ()
    exclude_patterns: tuple[str, ...] = ()
    reset: str = "soft"
    integrity: str = "auto"
    timeout_s: float | None = None
    description: str = ""
    firmware: str | None = None
    firmware_erase: bool = False
    source: Source | None = None

    def __repr__(self) -> str:
        """Fields that differ from their defaults (never the password, URLs without
        credentials)."""
        shown = [
            f"{f.name}={_shown(getattr(self, f.name))!r}"
            for f in dataclasses.fields(self)
            if f.repr and (f.name == "name" or getattr(self, f.name) != f.default)
        ]
        return f"BoardSpec({', '.join(shown)})"

    def __post_init__(self) -> None:
        if self.password is not None and not isinstance(self.password, Secret):
            object.__setattr__(self, "password", Secret(self.password))
        for name in ("urls", "features", "libs", "include_patterns", "exclude_patterns"):
            if isinstance(getattr(self, name), str):
                raise TypeError(f"BoardSpec.{name} must be a tuple of strings, not a string")
        if self.reset not in RESET_MODES:
            raise ValueError(f"BoardSpec.reset must be one of {', '.join(RESET_MODES)}")
        if self.integrity not in INTEGRITY_MODES:
            raise ValueError(f"BoardSpec.integrity must be one of {', '.join(INTEGRITY_MODES)}")

    @property
    def url(self) -> str | None:
        """The first URL, or None."""
        return self.urls[0] if self.urls else None

    @property
    def base_dir(self) -> str | None:
        """Directory of the rig file (relative host paths are relative to it), or None."""
        return None if self.source is None else os.path.dirname(self.source.path)

    def firmware_file(self) -> str | None:
        """The ``firmware`` path, made absolute from the rig file's directory (None: none)."""
        if self.firmware is None:
            return None
        path = os.path.expanduser(self.firmware)
        base = self.base_dir
        return path if base is None or os.path.isabs(path) else os.path.join(base, path)

    def has_feature(self, feature: str) -> bool:
        """Whether ``feature`` is among the board's features."""
        return feature in self.features

    def expand_vars(self, environ: Mapping[str, str] | None = None) -> BoardSpec:
        """A copy with ``${VAR}`` substituted in every string but the password.

        Args:
            environ: where variables are looked up (default ``os.environ``).

        Raises:
            ConfigError: a variable without default is unset; names file, line, key, variable.
        """
        return dataclasses.replace(
            self,
            urls=_expand_all(self.urls, environ),
            uid=_expand_opt(self.uid, environ),
            features=_expand_all(self.features, environ),
            resources=tuple(resource.expand_vars(environ) for resource in self.resources),
            install_dir=_expand_opt(self.install_dir, environ),
            libs=_expand_all(self.libs, environ),
            include_patterns=_expand_all(self.include_patterns, environ),
            exclude_patterns=_expand_all(self.exclude_patterns, environ),
            description=expand_text(self.description, environ),
            firmware=_expand_opt(self.firmware, environ),
        )

    def webrepl_password(self, environ: Mapping[str, str] | None = None) -> Secret | None:
        """The WebREPL password, looked up now.

        The spec's ``password`` with ``${VAR}`` substituted, else the environment variable
        ``MPHARNESS_WEBREPL_PASSWORD``, else None; an empty result counts as none. Call this
        only when the password is needed (opening a WebREPL link).

        Raises:
            ConfigError: the spec's password names an unset variable (the message names file,
                line, key and variable, never the password).
        """
        env = os.environ if environ is None else environ
        if self.password is not None:
            password = Secret(expand_text(self.password.reveal(), env))
            if password:
                return password
        fallback = Secret(env.get(PASSWORD_ENV) or "")
        return fallback or None

    def uid_matches(self, actual: str | bytes) -> bool:
        """Whether a board's reported unique id matches ``uid`` (True when no uid is set).

        Hex digits are compared case-insensitively, ignoring ``:``, ``-``, ``.`` and spaces;
        ``bytes`` (as ``machine.unique_id()`` returns them) are compared as hex.
        """
        if self.uid is None:
            return True
        reported = actual.hex() if isinstance(actual, bytes) else actual
        return _norm_uid(self.uid) == _norm_uid(reported)


def _shown(value: Any) -> Any:
    """A field's value for ``repr``: URLs (also in tuples) without credentials."""
    if isinstance(value, str):
        return redact_url(value)
    if isinstance(value, tuple) and all(isinstance(item, str) for item in value):
        return tuple(redact_url(item) for item in value)
    return value


def _norm_uid(uid: str) -> str:
    return re.sub(r"[\s:.\-]", "", uid).lower()
