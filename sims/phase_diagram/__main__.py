"""``python -m sims.phase_diagram``."""

import sys

from sims.phase_diagram.cli import main

sys.exit(main())
