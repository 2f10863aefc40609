"""The paper's experiments, rerunnable with one command each, and their plots."""
