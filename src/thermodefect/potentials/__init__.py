"""Analytic interatomic potentials: cheap references for tests and benchmarks, and Δ-learning baselines."""
