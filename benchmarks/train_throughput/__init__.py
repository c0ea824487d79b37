"""Training throughput, MFU and peak memory of our Transformer and LSTM against PyTorch peers."""
