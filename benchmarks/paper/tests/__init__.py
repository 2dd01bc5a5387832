"""Tests of the paper's reproduction, `benchmarks.paper` (`python -m benchmarks.paper`)."""
