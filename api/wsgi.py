"""WSGI entry point for servers that import an application object."""
from api.app import create_app

app = create_app()
