"""``python -m meterbill`` is the same as the ``meterbill`` console script."""

from meterbill.cli import main

main()
