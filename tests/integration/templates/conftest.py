"""The services tests' app and unique-name fixtures, shared with the templates tests."""

from tests.integration.services.conftest import service_name, services_api

__all__ = ["service_name", "services_api"]
