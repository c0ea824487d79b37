"""`python -m benchmarks.train_throughput [--quick] [--dtype auto|float32|bfloat16]`."""

from benchmarks.train_throughput.run import main

main()
