"""Evaluation: generation, domain metrics, general benchmarks and forgetting."""
