import sys

from rateconv.cli import main

sys.exit(main())
