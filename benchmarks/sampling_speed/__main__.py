"""`python -m benchmarks.sampling_speed [--quick] [--dtype auto|float32|bfloat16]`."""

from benchmarks.sampling_speed.run import main

main()
