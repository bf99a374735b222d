"""The policy pack `pulumi preview --policy-pack policy` runs (the policies live in kubernetes_practices)."""

from kubernetes_practices import PACK_NAME, POLICIES, install_secret_markers
from pulumi_policy import EnforcementLevel, PolicyPack

# The SDK's analyzer unwraps Pulumi secrets before validation, so every secret would look like
# plaintext to `no-plaintext-secrets`; keep them as `Secret` markers instead (nothing else changes).
install_secret_markers()
PolicyPack(name=PACK_NAME, policies=POLICIES, enforcement_level=EnforcementLevel.MANDATORY)
