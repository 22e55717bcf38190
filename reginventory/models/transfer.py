"""The seed's write operations on Registry (pull, push, copy, tag, delete): a mixin."""

from __future__ import annotations


class RegistryWriteMixin:
    """Pull, push, copy, tag and delete (mixed into :class:`reginventory.models.Registry`)."""
