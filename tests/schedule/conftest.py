"""The shipped-recipe fixtures (`product` settings on the sandbox, `store`) for schedule tests."""

from tests.recipes.conftest import product, store  # noqa: F401
