"""`python -m benchmarks.music_metrics [--quick]`."""

from benchmarks.music_metrics.run import main

main()
