"""Benchmarks (`minioci bench ...`): each is a module with one entry point."""
