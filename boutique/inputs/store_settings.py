"""Stack config of the cart store's backups (`boutique:redisBackup`): where snapshots go, how often,
how long they are kept, and the cloud identity the backup job uploads as. Backups need the
store replicated by the redis-operator (they read a replica); `boutique.plans.checks` says so.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from boutique.inputs.errors import described
from boutique.inputs.model import StrictModel

BUCKET = described(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", "an S3 bucket name, e.g. boutique-prod-backups")
PREFIX = described(r"^$|^[A-Za-z0-9!_.*'()/-]+/$", "a key prefix ending in '/', e.g. redis-cart/")
# Five fields, each a number, `*`, a range, a list or a step: what a CronJob's schedule accepts.
CRON = described(
    r"^([0-9*/,-]+)( [0-9*/,-]+){4}$", "a cron schedule of five fields, e.g. '0 */6 * * *' (every 6 hours)"
)
ROLE_ARN = described(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+$", "an IAM role ARN")


class RedisBackupSettings(StrictModel):
    enabled: bool = False
    """Back the operator-run stores up (needs the redis-operator)."""
    provider: Literal["aws"] = "aws"  # S3, as the role below (IRSA): no key is stored anywhere
    """Where snapshots go: `aws` (S3, as the role below through IRSA; no key stored)."""
    bucket: Annotated[str, StringConstraints(pattern=f"^$|{BUCKET}")] = ""
    """The bucket."""
    prefix: Annotated[str, StringConstraints(pattern=PREFIX)] = "redis-cart/"
    """The key prefix of the snapshots in the bucket."""
    role_arn: Annotated[str, StringConstraints(pattern=f"^$|{ROLE_ARN}")] = ""
    """The IAM role the backup job assumes (IRSA)."""
    schedule: Annotated[str, StringConstraints(pattern=CRON)] = "0 */6 * * *"
    """When snapshots are taken (cron)."""
    # The alert fires when the last successful backup is older than this many hours.
    max_age_hours: Annotated[int, Field(ge=1, le=24 * 31)] = 8
    """Alert when the last successful backup is older than this."""
    keep_days: Annotated[int, Field(ge=1, le=3650)] = 7
    """Days of snapshots kept."""

    @model_validator(mode="after")
    def _complete(self) -> RedisBackupSettings:
        if self.enabled and not self.bucket:
            raise ValueError("bucket: backups are on (enabled: true), so the bucket to upload to is required")
        if self.enabled and not self.role_arn:
            raise ValueError(
                "roleArn: backups are on, so the IAM role the job uploads as (IRSA) is required; "
                "no access key is ever stored"
            )
        return self
