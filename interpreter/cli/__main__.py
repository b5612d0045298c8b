"""`python -m interpreter.cli ...`: the same as the `interpreter` script."""

from interpreter.cli import main

main()
