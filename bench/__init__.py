"""Benchmarks, run by hand (`make bench`); they report ratios, not pass/fail."""
