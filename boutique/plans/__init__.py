"""Plans: pure functions from the catalog and the stack settings to component arguments
(workloads, security, mesh, platform), the checks that need both inputs, and `build_stack`, the one
place that composes the components. Imports `boutique.inputs` and `components`, nothing above.
"""
