import sys

from relaybox.cli import main

sys.exit(main())
