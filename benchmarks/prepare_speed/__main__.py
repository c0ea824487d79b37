"""`python -m benchmarks.prepare_speed [--quick] [--workers N]`."""

from benchmarks.prepare_speed.run import main

main()
