"""`python -m benchmarks.analysis [--quick] [--workers N]`."""

from benchmarks.analysis.run import main

main()
