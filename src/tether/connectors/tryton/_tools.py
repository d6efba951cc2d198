"""The Tryton connector's tools: the CRM's (``_crm.py``) and the ERP's (``_erp.py``)
on one client, sharing one lock for creating calls."""

from __future__ import annotations

import threading

from tether.connectors.tryton._client import TrytonClient
from tether.connectors.tryton._crm import CrmTools
from tether.connectors.tryton._erp import ErpTools
from tether.tools import Tool, declared_tools


class TrytonTools:
    """Builds the tools on one :class:`TrytonClient`."""

    def __init__(self, client: TrytonClient) -> None:
        lock = threading.Lock()
        self.client = client
        self.crm = CrmTools(client, create_lock=lock)
        self.erp = ErpTools(client, create_lock=lock)

    def tools(self) -> list[Tool]:
        return [*declared_tools(self.crm), *declared_tools(self.erp)]
