"""``python -m microstructure`` runs the ``assb`` command line."""

from .cli import app

app(prog_name="assb")
