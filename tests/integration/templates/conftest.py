"""The services tests' app and unique-name fixtures, shared with the templates tests."""

from tests.integration.services.conftest import services_api

__all__ = ["services_api"]
