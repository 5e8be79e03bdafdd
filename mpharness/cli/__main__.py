"""``python -m mpharness.cli``."""

from __future__ import annotations

import sys

from mpharness.cli.main import main

sys.exit(main())
