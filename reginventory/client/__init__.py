"""The registry client: references, manifests, auth and transport, and the registry operations."""
