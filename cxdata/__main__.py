"""Entry point of `python -m cxdata`."""

from cxdata.cli import main

raise SystemExit(main())
