"""earshot: hear a service go down in public chatter before the status page says so."""

__version__ = "0.1.0"

USER_AGENT = f"earshot/{__version__} (social-signal outage detector; +https://github.com/earshot-dev/earshot)"
