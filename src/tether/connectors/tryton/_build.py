"""Build the demo company into a new Tryton database. Runs in its own process.

``python -m tether.connectors.tryton._build DATABASE`` with ``TRYTOND_CONFIG`` set
to the generated configuration file. It prints one line per step (``step N/M
text``) so the caller can show progress. trytond's configuration is global to a
process, which is why this never runs inside tether's own.
"""

from __future__ import annotations

import datetime as _dt
import os
import random
import sys
from decimal import Decimal

from tether.connectors.tryton._patch import disable_email_deliverability_check

MODULES = ["party", "company", "currency", "product", "sale", "sale_opportunity"]
ADMIN_PASSWORD_ENV = "TETHER_TRYTON_ADMIN_PASSWORD"
DEFAULT_ADMIN_PASSWORD = "tether-admin"
CUSTOMERS = 36
STEPS = 8

_FIRST = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Wonka", "Tyrell"]
_SECOND = ["Trading", "Logistics", "Foods", "Systems"]
_CITIES = ["Lyon", "Leeds", "Porto", "Ghent", "Basel", "Turin"]


def _step(number: int, text: str) -> None:
    print(f"step {number}/{STEPS} {text}", flush=True)


def build(database: str, admin_password: str) -> None:  # noqa: PLR0915
    os.environ["DB_NAME"] = database
    disable_email_deliverability_check()
    from trytond.tests.test_tryton import create_db

    _step(1, "creating the database")
    create_db(database)

    from proteus import Model, Wizard
    from proteus import config as pconfig

    config = pconfig.set_trytond(database=database)
    config.skip_warning = True
    _step(2, "activating modules")
    Module = Model.get("ir.module")
    records = Module.find([("name", "in", MODULES)])
    Module.click(records, "activate")
    Wizard("ir.module.activate_upgrade").execute("upgrade")

    from trytond.modules.account.tests.tools import (
        create_chart,
        create_fiscalyear,
        create_tax,
        get_accounts,
    )
    from trytond.modules.account_invoice.tests.tools import (
        create_payment_term,
        set_fiscalyear_invoice_sequences,
    )
    from trytond.modules.company.tests.tools import create_company, get_company

    _step(3, "setting up the company and its accounts")
    Party = Model.get("party.party")
    User = Model.get("res.user")
    admin = User(config.user)
    admin.password = admin_password
    admin.email = "admin@demo.example"
    admin.save()
    company_party = Party(name="Tether Demo Ltd")
    company_party.save()
    create_company(party=company_party, currency="EUR", config=config)
    company = get_company()
    create_chart(company)
    fiscalyear = set_fiscalyear_invoice_sequences(create_fiscalyear(company))
    fiscalyear.click("create_period")
    accounts = get_accounts(company)
    tax = create_tax(Decimal("0.20"))
    tax.save()
    payment_term = create_payment_term()
    payment_term.save()

    _step(4, "creating products")
    Category = Model.get("product.category")
    category = Category(name="Services and goods", accounting=True)
    category.account_revenue = accounts["revenue"]
    category.account_expense = accounts["expense"]
    category.customer_taxes.append(tax)
    category.save()
    Uom = Model.get("product.uom")
    (unit,) = Uom.find([("name", "=", "Unit")])
    Template = Model.get("product.template")
    products = []
    for name, code, price, kind in [
        ("Consulting hour", "SRV-CONSULT", "120", "service"),
        ("Support plan (month)", "SRV-SUPPORT", "450", "service"),
        ("Onboarding workshop", "SRV-WORKSHOP", "1500", "service"),
        ("Sensor kit", "HW-SENSOR", "89.90", "goods"),
        ("Gateway appliance", "HW-GATEWAY", "640", "goods"),
    ]:
        template = Template(name=name, default_uom=unit, type=kind, salable=True)
        template.list_price = Decimal(price)
        template.account_category = category
        template.code = code
        template.save()
        products.append(template.products[0])

    _step(5, "creating customers")
    Employee = Model.get("company.employee")
    employee = Employee(party=Party(name="Sam Seller"), company=company)
    employee.party.save()
    employee.save()
    admin = User(config.user)
    admin.employees.append(Employee(employee.id))
    admin.employee = Employee(employee.id)
    admin.save()
    rng = random.Random(7)
    customers = []
    names = [f"{a} {b}" for b in _SECOND for a in _FIRST][:CUSTOMERS]
    for index, name in enumerate(names):
        party = Party(name=name)
        slug = name.lower().replace(" ", "-")
        party.contact_mechanisms.new(type="email", value=f"orders@{slug}.example")
        party.contact_mechanisms.new(type="phone", value=f"+33 4 72 00 {index:02d} 00")
        address = party.addresses[0]
        address.city = _CITIES[index % len(_CITIES)]
        address.street = f"{index + 1} Market Street"
        party.customer_payment_term = payment_term
        party.save()
        customers.append(party)

    _step(6, "opening opportunities")
    Opportunity = Model.get("sale.opportunity")
    for index, party in enumerate(customers[:12]):
        opportunity = Opportunity(
            description=f"{products[index % 5].template.name} for {party.name}"
        )
        opportunity.party = party
        opportunity.address = party.addresses[0]
        opportunity.employee = employee
        opportunity.payment_term = payment_term
        opportunity.amount = Decimal(rng.randrange(5, 80) * 100)
        opportunity.save()
        if index % 3:
            line = opportunity.lines.new()
            line.product = products[index % 5]
            line.quantity = rng.randrange(1, 10)
            opportunity.save()
            opportunity.click("opportunity")

    _step(7, "posting invoices")
    Invoice = Model.get("account.invoice")
    today = _dt.date.today()
    invoices = []
    for index, party in enumerate(customers[:10]):
        invoice = Invoice(type="out", party=party, payment_term=payment_term)
        invoice.invoice_date = today - _dt.timedelta(days=(9 - index) * 3)
        line = invoice.lines.new()
        line.product = products[index % 5]
        line.quantity = 1 + index % 4
        line.unit_price = products[index % 5].template.list_price
        invoice.save()
        invoices.append(invoice)
    Invoice.click(invoices, "post")
    _step(8, "done")


def _main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m tether.connectors.tryton._build DATABASE", file=sys.stderr)
        return 2
    build(argv[1], os.environ.get(ADMIN_PASSWORD_ENV, DEFAULT_ADMIN_PASSWORD))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
