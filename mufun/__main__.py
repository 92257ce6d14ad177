import sys

from mufun.cli import main

sys.exit(main())
