"""Operations tests use the delivery tests' settings: loopback receivers allowed."""

from tests.delivery.conftest import settings

__all__ = ["settings"]
