"""What a service role's trust policy must say about who the service acts for: the confused-deputy conditions.

A role that trusts an AWS service (``"Principal": {"Service": "sagemaker.amazonaws.com"}``) can be assumed by
that service on behalf of *any* customer who names the role's ARN, unless the trust statement pins the
account the service acts for (``aws:SourceAccount``) and, where the service sends it, the resource it acts for
(``aws:SourceArn``). The components write both conditions (``components/policy_documents.service_trust``) and
the pack's ``iam-service-trust-source-conditions`` requires them, from this one table.
"""

from __future__ import annotations

SOURCE_ACCOUNT = "aws:SourceAccount"
SOURCE_ARN = "aws:SourceArn"

SOURCE_ARN_SERVICES = frozenset({
    "codebuild.amazonaws.com",   # the project's ARN (CodeBuild's service-role guide)
    "events.amazonaws.com",      # the rule's ARN (EventBridge, for the role a target runs as)
    "sagemaker.amazonaws.com",   # the job's, model's or pipeline's ARN (arn:aws:sagemaker:<region>:<account>:*)
})
"""Services that send ``aws:SourceArn`` when they assume a role, so their trust statements must pin it too.

Glue is not listed: we know of no documentation that Glue sends it when it assumes a job's role, and a positive
condition on a key the service does not send denies every ``AssumeRole`` (the jobs would stop). Its trust
statements carry ``aws:SourceAccount`` only. Add a service here once its documentation says it sends the key.
"""
