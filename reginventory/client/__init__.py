"""The registry client: references, manifests, auth and transport, and the registry operations."""

from reginventory.client.startup import import_http_libraries

import_http_libraries()
