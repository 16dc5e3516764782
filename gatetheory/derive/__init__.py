"""Symbolic derivations from a Cell: mean field, rendering."""
