"""Ownership: which games a user owns, granted when an order is paid and revoked on refund."""
