"""`make e2e`: the program through the real Pulumi engine against a real (kwok-backed) API server.

A tool beside the program: it may import boutique and tools; nothing imports it.
"""
