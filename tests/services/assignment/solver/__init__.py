"""Tests of the GAP solver package, one module per idea of services/assignment/solver."""
