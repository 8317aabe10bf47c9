"""The shape of `shop/`: domains form layers, and nothing grows past what a reader can hold.

Every import counts, including those inside functions (tests/architecture/imports.py).
"""
from pathlib import Path

from .imports import SHOP, cycles, graph, part, part_edges, unresolved

# From the bottom. A part may import its own layer's members and anything below; a
# lower layer that must react to a higher one offers a registration instead
# (orders.hooks.register, catalog.card_states.register, accounts' page parts).
LAYERS = [
    {"config", "timeutil"},
    {"extensions"},
    {"errors"},
    {"infra"},
    {"web"},
    {"notifications"},
    {"accounts"},
    {"social"},
    {"catalog"},
    {"library"},
    {"cart"},
    {"orders"},
    {"coupons", "loyalty", "gifts"},
    {"waiting"},
    {"reviews"},
    {"core"},
    {"admin"},
    {"dev"},
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}
MAX_LINES = 400
MAX_LOOSE_MODULES = 6


def test_no_import_circle_between_modules():
    assert cycles(graph()) == []


def test_no_import_circle_between_top_level_parts():
    assert cycles(part_edges(graph())) == []


def test_every_part_has_a_layer():
    parts = {part(m) for m in graph()} | {p.stem for p in SHOP.glob("*.py")} | {
        p.name for p in SHOP.iterdir() if (p / "__init__.py").exists()}
    assert parts - {"__init__", "shop"} <= set(RANK), "add the new part to LAYERS"


def test_parts_import_only_their_layer_and_below():
    upward = sorted(f"{source} -> {target}" for source, targets in graph().items() for target in targets
                    if source != "shop" and target != "shop"
                    and RANK.get(part(target), -1) > RANK.get(part(source), len(LAYERS)))
    assert upward == []


def test_no_module_over_400_lines():
    long = {str(p.relative_to(SHOP)): n for p in SHOP.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_few_loose_modules():
    loose = sorted(p.name for p in SHOP.glob("*.py") if p.name != "__init__.py")
    assert len(loose) <= MAX_LOOSE_MODULES, loose


def test_the_checker_sees_imports_inside_functions(tmp_path):
    """The graph is only worth its assertions if a function-level import counts."""
    g = graph()
    assert "shop.catalog.services" in g.get("shop.dev.seed_games", set()) or any(
        t.startswith("shop.catalog") for t in g.get("shop.dev.seed_games", set()))
    inner = [m for m, targets in g.items() if m == "shop.infra.mail_cli"]
    assert inner and "shop.infra.mail" in g["shop.infra.mail_cli"]  # imported inside its commands


def test_every_import_of_a_shop_module_resolves():
    """Imports inside functions only run when the function does: a moved module must
    not leave one behind."""
    assert unresolved() == []
