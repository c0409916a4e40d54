import sys

from audiotok.cli import main

sys.exit(main())
