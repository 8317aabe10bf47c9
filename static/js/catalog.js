// Catalog behaviour (sale countdowns, gallery). Loaded on every page.
