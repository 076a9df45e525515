"""Faithful synthetic clients, shared by the tests, the benchmarks and comparison runs."""
