"""The roof: what ties the layers together and alone may import them all.

``cli`` (the ``earshot`` command), ``demo`` (the offline demo database),
``simulate`` and ``scenarios`` (simulated posts written to a database). The
modules below the roof (``earshot.*``, ``detector``) never import
``collectors`` or ``dashboard``; ``tests/test_layers.py`` checks it.
"""
