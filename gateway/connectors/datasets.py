"""The canonical datasets a connector can fill, and the fields of each.

A connector maps the enterprise's column names (订单号, 客户, ...) onto these fields; the
indicators only ever see these names. ``token:<kind>`` fields are names of counterparties
or products: they are replaced by keyed tokens before anything is stored.
"""

from __future__ import annotations

from dataclasses import dataclass

# Order lifecycle, in order: an order's stage is the furthest one it has a date for.
STAGES = ("order", "check", "schedule", "produce", "stock_in", "stock_out", "ship", "sign_back", "receivable",
          "payment")
STAGE_FIELDS = {"order": "order_date", "check": "checked_date", "schedule": "scheduled_date",
                "produce": "produced_date", "stock_in": "stock_in_date", "stock_out": "stock_out_date",
                "ship": "shipped_date", "sign_back": "signed_date", "receivable": "invoiced_date",
                "payment": "paid_date"}


@dataclass(frozen=True)
class Dataset:
    name: str
    fields: dict[str, str]  # field -> type: str | num | date | datetime | direction | token:<kind>
    required: tuple[str, ...]
    date_field: str  # the row's own date: it decides the period a row belongs to ("" = undated)
    key: tuple[str, ...] = ()  # business key; rows without one are keyed by their content
    non_negative: tuple[str, ...] = ()


DATASETS: dict[str, Dataset] = {d.name: d for d in (
    Dataset("orders", {"order_no": "str", "customer": "token:customer", "product": "token:product", "qty": "num",
                       "unit_price": "num", "amount": "num", "paid_amount": "num", "due_date": "date",
                       **{f: "date" for f in STAGE_FIELDS.values()}},
            ("order_no", "customer", "order_date"), "order_date", ("order_no", "product"),
            ("qty", "unit_price", "amount", "paid_amount")),
    Dataset("production", {"work_order": "str", "date": "date", "product": "token:product", "good_qty": "num",
                           "scrap_qty": "num", "completed_qty": "num", "planned_qty": "num", "planned_min": "num",
                           "run_min": "num", "line": "str", "shift": "str"},
            ("date", "product", "good_qty"), "date", ("work_order",),
            ("good_qty", "scrap_qty", "completed_qty", "planned_qty", "planned_min", "run_min")),
    Dataset("shipments", {"ship_no": "str", "date": "date", "customer": "token:customer",
                          "product": "token:product", "qty": "num", "amount": "num"},
            ("date", "customer", "qty"), "date", ("ship_no", "product"), ("qty", "amount")),
    Dataset("receivables", {"invoice_no": "str", "customer": "token:customer", "amount": "num",
                            "invoice_date": "date", "due_date": "date", "paid_date": "date", "paid_amount": "num"},
            ("invoice_no", "customer", "amount", "invoice_date"), "invoice_date", ("invoice_no",),
            ("amount", "paid_amount")),
    Dataset("purchases", {"po_no": "str", "date": "date", "supplier": "token:supplier", "product": "token:product",
                          "qty": "num", "amount": "num"},
            ("date", "supplier", "amount"), "date", ("po_no", "product"), ("qty", "amount")),
    Dataset("stock_moves", {"move_no": "str", "time": "datetime", "direction": "direction", "qty_kg": "num",
                            "asset": "str", "product": "token:product"},
            ("time", "direction", "qty_kg"), "time", ("move_no",), ("qty_kg",)),
    # The product master: undated (date_field ""), one row per product; a new export of it
    # replaces the connector's earlier one (snapshot). See gateway/connectors/products.py.
    Dataset("products", {"product": "token:product", "units_per_pack": "num", "units_per_carton": "num",
                         "units_per_pallet": "num", "unit_weight_kg": "num"},
            ("product",), "", ("product",), ("units_per_pack", "units_per_carton", "units_per_pallet",
                                             "unit_weight_kg")),
)}

# The unit each numeric field is stored in (a name of units.toml): a column declaring another
# unit of the same kind (hours for run_min, 万元 for amount, t for qty_kg) is converted on import.
FIELD_UNITS: dict[str, str] = {
    **{f: "pcs" for f in ("qty", "good_qty", "scrap_qty", "completed_qty", "planned_qty", "units_per_pack",
                          "units_per_carton", "units_per_pallet")},
    **{f: "CNY" for f in ("unit_price", "amount", "paid_amount")},
    "planned_min": "min", "run_min": "min", "qty_kg": "kg", "unit_weight_kg": "kg",
}
