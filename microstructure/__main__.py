"""``python -m microstructure`` runs the ``assb`` command line."""

from .studies.cli import app

app(prog_name="assb")
