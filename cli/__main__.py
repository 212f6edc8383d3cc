"""`python -m cli ...` is `recall ...` (tests and benchmarks run it so, without the console script)."""
from cli import main

main()
