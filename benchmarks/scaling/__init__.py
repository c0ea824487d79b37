"""Train step time against the number of devices and against the sequence length."""
