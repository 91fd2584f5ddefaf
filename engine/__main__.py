"""`python -m engine` runs the same command line as the `engine` script."""

from engine.cli import main

raise SystemExit(main())
