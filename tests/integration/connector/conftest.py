from tests.api.connector.fixtures import connector, unconfigured

__all__ = ["connector", "unconfigured"]
