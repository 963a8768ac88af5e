"""Demo data for a developer's machine (`make run`): extensions, two rates, money."""

from __future__ import annotations

from . import accounts, money, rates


def load_demo_data() -> None:
    for n in range(1001, 1021):
        accounts.ensure_extension(str(n), f"Room {n - 1000:02d}", source="manual")
    enabled = [str(n) for n in range(1001, 1011)]
    accounts.edit(enabled, billing_enabled=True, credit=money.parse_amount("5"))
    accounts.recharge(enabled, money.parse_amount("20"), operator="demo")
    common = {"initial_cost": "0", "initial_time": "0", "unit": "60", "start": "00:00",
              "end": "24:00", "all_extensions": True}
    rates.add(rates.validate({**common, "prefix": "9", "length": "9", "rate": "0.05",
                              "remarks": "City landline (9 + 8 digits)"}))
    rates.add(rates.validate({**common, "prefix": "9", "length": "12", "rate": "0.15",
                              "remarks": "Mobile (9 + 11 digits)"}))
