"""`python -m benchmarks.infill [--quick] [--variant NAME] [--eval-only]`."""

from benchmarks.infill.run import main

main()
