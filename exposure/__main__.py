"""`python -m exposure` runs the command line."""

import sys

from exposure.cli import main

sys.exit(main())
