"""`python -m benchmarks.fidelity [--quick]`."""

from benchmarks.fidelity.run import main

main()
