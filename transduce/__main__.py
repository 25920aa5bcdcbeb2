"""`python -m transduce ...`: the `transduce` command line."""

import sys

from transduce.cli import main

sys.exit(main())
