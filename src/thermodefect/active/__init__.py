"""Active learning for both models: selection rules and the two loops."""
