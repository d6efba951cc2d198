"""Any REST system as tether tools, generated from its OpenAPI 3.0/3.1 document.

```yaml
connectors:
  - type: openapi
    settings:
      document: crm.yaml          # relative to tether.yaml
      prefix: crm                 # tools are named crm.<operationId>
      auth: {type: bearer, token_env: CRM_TOKEN}
```

One tool per operation; ``GET``/``HEAD`` are ``read``, other methods ``write``, unless
``x-tether-effect`` (on the operation, its path or the document) or ``settings.effects``
says otherwise. Credentials are read from environment variables and added by the
connector to each request: they never appear in a tool's arguments, its results,
its errors or the audit trail. See ``docs/connectors/openapi.md``.
"""

from tether.connectors.openapi._errors import OpenAPIDocumentError
from tether.connectors.openapi._settings import (
    BasicAuth,
    BearerAuth,
    HeaderAuth,
    OpenAPISettings,
    QueryAuth,
)
from tether.connectors.openapi._toolset import tool_prefix, toolset

__all__ = [
    "BasicAuth",
    "BearerAuth",
    "HeaderAuth",
    "OpenAPIDocumentError",
    "OpenAPISettings",
    "QueryAuth",
    "tool_prefix",
    "toolset",
]
