from tests.api.connector.fixtures import connector, connector_secret

__all__ = ["connector", "connector_secret"]
