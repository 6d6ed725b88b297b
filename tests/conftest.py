"""Shared pytest configuration."""

pytest_plugins = ["tests.slurm_fixture"]
