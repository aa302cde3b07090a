"""Tools for flow authors: scenarios, diagrams, scaffolding."""
