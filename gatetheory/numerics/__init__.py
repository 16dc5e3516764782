"""Numerical kernels: quadrature, mean-field solver, spectral edge."""
