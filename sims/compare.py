"""``python -m sims.compare``: the phase diagram's sweep against theory's predictions, as a table
(``sims.phase_diagram.compare``; exit status 1 when a check fails)."""

import sys

from sims.phase_diagram.compare import main

if __name__ == "__main__":
    sys.exit(main())
