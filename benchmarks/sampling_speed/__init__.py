"""Sampling tokens/s: KV-cached `sampling.sample` against full recompute and HF GPT-2 generate."""
