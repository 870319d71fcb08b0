"""The assignment service: the agent registry API, task assignment over the GAP solver, outcome learning."""
