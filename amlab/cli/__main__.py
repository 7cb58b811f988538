"""``python -m amlab.cli``: the ``amlab`` command without the installed script."""

from amlab.cli import app

app(prog_name="amlab")
