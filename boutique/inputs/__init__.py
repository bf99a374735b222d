"""Inputs: `services.yaml` (the catalog: what the shop is made of) and `Pulumi.<stack>.yaml` (the
stack settings: how this stack runs it), read and validated into typed models.

Parsing and validation only: no resources, no plans. May import `components` for a shared name
(the stable track's label), never `boutique.plans`, `boutique.program` or the tools.
"""
