"""The product master: per product, how many parts go into the handling unit the dispatch
camera counts (a pack, a carton or a pallet) and the nominal unit weight.

Cameras count packs; the ERP ships parts, 60 in one product's pack and 200 in another's, so
a single parts-per-pack ratio across products is wrong as soon as the mix changes. With a
master the gateway converts each shipment line to packs on site (``erp.shipped_packs``) and
the receiver compares packs with packs. The master stays on site: product names are
tokenised like every other name, only the pack totals leave.

Two sources, merged by product token: a ``products`` connector (an export of the ERP's item
master) and the profile's ``[products.items]`` (the installer's word, which wins). Either
way the rows land in ``erp_rows`` (dataset ``products``), so the indicators and the import
check read one table. When a master is declared, a shipment row whose product is not in it
is quarantined with that reason: a pack count from a guessed ratio would be a wrong figure.

```toml
[products]
counted_unit = "pack"            # what the dispatch camera counts: pack | carton | pallet
[products.items."刹车盘 BD-220"]
units_per_pack = 60
unit_weight_kg = 2.4
```
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

import msgspec

from gateway.connectors.config import ConnectorCfg
from gateway.connectors.readers import Source, SourceRow
from gateway.i18n import N_
from gateway.profile.load import ProfileError, _split_msgspec_error, msgspec_words
from gateway.store import erp as erp_store

COUNTED_FIELD = {"pack": "units_per_pack", "carton": "units_per_carton", "pallet": "units_per_pallet"}
SIZE_FIELDS = ("units_per_pack", "units_per_carton", "units_per_pallet", "unit_weight_kg")
PROFILE_CONNECTOR = "profile.products"  # the erp_rows connector name of the profile's items
Positive = Annotated[float, msgspec.Meta(gt=0)]


class ProductItem(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    units_per_pack: Positive | None = None
    units_per_carton: Positive | None = None
    units_per_pallet: Positive | None = None
    unit_weight_kg: Positive | None = None


class ProductsCfg(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    counted_unit: Literal["pack", "carton", "pallet"] = "pack"
    # product name as the exports write it -> sizes
    items: dict[str, ProductItem] = {}

    @property
    def counted_field(self) -> str:
        return COUNTED_FIELD[self.counted_unit]


def load_products(section: dict[str, Any], file: str = "(profile)") -> ProductsCfg:
    """``[products]`` validated; errors name the file, the key and what was expected."""
    try:
        cfg = msgspec.convert(section or {}, ProductsCfg, strict=False)
    except msgspec.ValidationError as exc:
        k, msg = _split_msgspec_error(exc)
        raise ProfileError(file, f"products.{k}", msgspec_words(msg)) from exc
    for name, item in cfg.items.items():
        if not name.strip():
            raise ProfileError(file, "products.items", N_("product names as the exports write them (found \"\")"))
        if getattr(item, cfg.counted_field) is None:
            raise ProfileError(file, f"products.items.{name}.{cfg.counted_field}",
                               N_("the number of parts per {counted_unit} (counted_unit = \"{counted_unit}\": the "
                                  "dispatch camera counts these)"), counted_unit=cfg.counted_unit)
    return cfg


def master_declared(products: ProductsCfg, connectors: list[ConnectorCfg]) -> bool:
    """A master is in use when the profile lists items or a connector imports one."""
    return bool(products.items) or any(c.dataset == "products" for c in connectors)


def profile_connector() -> ConnectorCfg:
    """The pseudo-connector the profile's items are imported under (columns = field names)."""
    return ConnectorCfg(name=PROFILE_CONNECTOR, kind="folder", dataset="products", path="(profile)",
                        columns={"product": "product", **{f: f for f in SIZE_FIELDS}})


def profile_source(products: ProductsCfg) -> Source:
    """The profile's items as a source the importer reads like any export."""
    rows = [{"product": name, **{f: getattr(item, f) for f in SIZE_FIELDS}} for name, item in products.items.items()]
    h = hashlib.sha256(json.dumps(rows, ensure_ascii=False, sort_keys=True).encode()).hexdigest()
    return Source("(profile [products])", h, [SourceRow(i, json.dumps(r, ensure_ascii=False), r)
                                              for i, r in enumerate(rows, start=1)],
                  columns=["product", *SIZE_FIELDS], encoding="toml")


def master_rows(store: Any) -> dict[str, dict[str, Any]]:
    """Product token -> sizes, every source merged (the profile's items last, so they win)."""
    got = erp_store.connector_fields(store, "products", last_connector=PROFILE_CONNECTOR)
    out: dict[str, dict[str, Any]] = {}
    for _, fields in got:
        f = json.loads(fields)
        out.setdefault(f["product"], {}).update({k: v for k, v in f.items() if v is not None})
    return out


def master_hash(master: dict[str, dict[str, Any]]) -> str:
    """Changes whenever the master does: shipment exports are re-read then (rows quarantined for
    a missing product go through once it is added)."""
    return hashlib.sha256(json.dumps(master, sort_keys=True).encode()).hexdigest()


def forget_profile_items(store: Any) -> tuple[int, set[str]]:
    """The profile no longer lists any item: its earlier items leave the master (a snapshot
    import of nothing would remove nothing, having no day to cover). Returns how many left
    and, if any did, every day with shipments (their pack figures are recomputed)."""
    n = erp_store.remove_connector_rows(store, PROFILE_CONNECTOR, "products")
    days = erp_store.days_with_rows(store, "shipments") if n else set()
    return n, days
