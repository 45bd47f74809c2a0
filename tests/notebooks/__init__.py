"""Executed tours in notebooks/: solvers and federated."""
