"""``python -m featvslearn``."""

from featvslearn.cli import main

main()
