"""`python -m benchmarks.chorales_nll [--quick]`."""

from benchmarks.chorales_nll.run import main

main()
