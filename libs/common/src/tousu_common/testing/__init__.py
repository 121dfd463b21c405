"""Test fixtures every service shares: the real broker and the real databases."""
