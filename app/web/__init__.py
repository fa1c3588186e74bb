"""The HTTP layer's own helpers, beside the blueprints: reading a JSON body
(`request_body`), the refresh-token cookies (`cookies`), the OpenAPI document (`openapi`)
and the health checks (`health`). The core (app/*.py services) imports none of them."""
