"""Reusable ComponentResources. Nothing in here knows Online Boutique's service names."""
