"""`python -m benchmarks.scaling [--quick] [--dtype auto|float32|bfloat16]`."""

from benchmarks.scaling.run import main

main()
